"""Metrics explorer in the browser, on the demo Prometheus source (recorded real payloads)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_hydrated

# What a real Prometheus (Debian 2.42) answered to this query, recorded for the demo source.
SERVER_ERROR = 'invalid parameter "query": 1:7: parse error: unclosed left parenthesis'


def test_bad_promql_shows_the_servers_error_next_to_the_editor(page: Page) -> None:
    page.goto("/metrics-explorer")
    wait_hydrated(page)
    editor = page.get_by_label("PromQL")
    expect(editor).to_have_value("up")  # the demo source's recorded query
    page.locator(".os-run-query").click()
    expect(page.locator(".os-result-summary")).to_contain_text("2 series")
    expect(page.locator(".os-metrics-result .scatterlayer .trace")).to_have_count(2)  # drawn

    editor.fill("sum(up")
    page.wait_for_timeout(400)  # the editor's debounce
    page.locator(".os-run-query").click()
    error = page.locator(".os-query-error")
    expect(error).to_contain_text(SERVER_ERROR)
    expect(page.locator(".os-metrics-editor")).to_contain_text(SERVER_ERROR)
    expect(page.locator(".os-result-summary")).to_have_count(0)
