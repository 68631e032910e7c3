"""Pipelines in the browser: a signed webhook shows up live; filters and run detail work."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from opssight.services.webhooks import sign
from tests.e2e.conftest import WEBHOOK_SECRET, Server, wait_hydrated

WEBHOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "webhooks"


def post_webhook(server: Server, event: str, name: str) -> httpx.Response:
    body = (WEBHOOKS / name).read_bytes()
    recorded = json.loads(body)
    if set(recorded) == {"event", "payload"}:  # pkg-pr-new recordings wrap the body
        body = json.dumps(recorded["payload"]).encode()
    return httpx.post(
        f"{server.url}/api/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
            "Content-Type": "application/json",
        },
        timeout=10,
    )


def test_a_new_webhook_shows_in_an_open_browser_within_a_second(page: Page, server: Server):
    sha = json.loads((WEBHOOKS / "octokit.workflow_run.requested.payload.json").read_text())[
        "workflow_run"
    ]["head_sha"]
    page.goto("/pipelines")
    wait_hydrated(page)
    page.locator(".os-run-search input").fill(sha[:10])
    expect(page.get_by_text("No run matches these filters.")).to_be_visible()

    response = post_webhook(server, "workflow_run", "octokit.workflow_run.requested.payload.json")
    assert response.status_code == 200 and response.json()["result"] == "stored"
    posted = time.monotonic()
    row = page.locator('[data-run="289782451:1"]')
    expect(row).to_be_visible(timeout=1000)
    assert time.monotonic() - posted <= 1.0
    expect(row.locator(".os-status")).to_have_text("queued")

    post_webhook(server, "workflow_run", "octokit.workflow_run.completed.payload.json")
    expect(row.locator(".os-status")).to_have_text("success", timeout=1000)


def test_run_detail_and_status_filter(page: Page, server: Server):
    post_webhook(server, "workflow_run", "pkg-pr-new.pr.workflow_run.completed.json")  # a failure
    page.goto("/pipelines")
    wait_hydrated(page)
    expect(page.locator(".os-run-row").first).to_be_visible(timeout=15000)
    expect(page.locator(".os-trend .scatterlayer .trace").first).to_be_attached()  # plotly JSON
    connector = page.locator(".os-github-connector")
    expect(connector).to_contain_text("Rate budget left")
    expect(connector).to_contain_text("4,999/5,000")  # the demo's recorded /rate_limit
    expect(connector.locator(".os-demo-badge")).to_be_visible()

    page.locator(".os-run-row").first.click()  # the newest demo run: two jobs with steps
    dialog = page.locator(".os-run-detail")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".os-job")).to_have_count(2)
    expect(dialog.locator(".os-timeline")).to_be_visible()
    expect(dialog.locator(".os-timeline .barlayer .point").first).to_be_attached()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)

    page.locator(".os-main [role=combobox]").nth(2).click()  # repository, workflow, status
    page.get_by_role("option", name="failure", exact=True).click()
    expect(page.locator(".os-run-row .os-status").first).to_have_text("failure")
    expect(page.locator('.os-run-row .os-status:not(:text-is("failure"))')).to_have_count(0)
    expect(page.locator(".os-runs-count")).to_contain_text("runs")
