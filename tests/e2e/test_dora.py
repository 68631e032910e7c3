"""DORA in the browser: the four keys from the demo deployments, each opening its rows."""

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_hydrated


def test_dora_cards_and_drill_down(page: Page):
    page.goto("/dora")
    wait_hydrated(page)
    cards = page.locator(".os-dora-card")
    expect(cards).to_have_count(4)
    frequency = page.locator('.os-dora-card[data-metric="Deployment frequency"]')
    expect(frequency.locator(".os-dora-value")).not_to_have_text("—", timeout=15000)
    expect(page.locator(".js-plotly-plot .barlayer .point").first).to_be_attached()  # the trends
    expect(frequency.locator(".os-dora-level")).to_have_text(
        re.compile("^(elite|high|medium|low)$")
    )
    failure_rate = page.locator('.os-dora-card[data-metric="Change failure rate"]')
    # the demo's incident issues: some deployments were followed by one
    expect(failure_rate.locator(".os-dora-value")).to_have_text(re.compile(r"^\d+%$"))
    expect(failure_rate.locator(".os-dora-rows")).to_have_text(
        re.compile(r"^[1-9]\d* of \d+ deployments$")
    )

    frequency.locator(".os-dora-rows").click()
    listing = page.locator(".os-dora-list")
    expect(listing).to_be_visible()
    expect(listing.locator(".os-dora-row").first).to_contain_text("deployment")
    count = int(frequency.locator(".os-dora-rows").inner_text().split()[0])
    expect(listing.locator(".os-dora-row")).to_have_count(count)
