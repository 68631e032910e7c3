"""A connector status changed through the service layer shows in an open browser within 2 s."""

import time

from playwright.sync_api import Page, expect

from opssight import db
from opssight.schemas.connector import ConnectorCheck
from opssight.services.connectors import record_check
from tests.e2e.conftest import Server, wait_hydrated


def _record(state: str, detail: str) -> None:
    with db.session_scope() as session:
        record_check(
            session, ConnectorCheck(name="e2e-live", kind="webhook", state=state, detail=detail)
        )


def test_connector_card_updates_live_without_reload(page: Page, as_server: Server):
    page.goto("/")
    wait_hydrated(page)
    expect(page.locator('[data-connector="github"]')).to_be_visible()
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    _record("ok", "first delivery")
    card = page.locator('[data-connector="e2e-live"]')
    expect(card).to_be_visible(timeout=2000)
    expect(card.locator(".os-status")).to_have_text("ok", timeout=2000)

    started = time.monotonic()
    _record("down", "receiver unreachable")
    expect(card.locator(".os-status")).to_have_text("down", timeout=2000)
    expect(card).to_contain_text("receiver unreachable", timeout=2000)
    assert time.monotonic() - started <= 2.0
    assert navigations == []


def test_stored_object_count_follows_new_rows(page: Page, as_server: Server):
    page.goto("/")
    wait_hydrated(page)
    connectors = page.locator('[data-count="Connectors"] .os-stat-value')
    expect(connectors).not_to_have_text("")
    before = int(connectors.inner_text().replace(",", ""))
    with db.session_scope() as session:
        record_check(session, ConnectorCheck(name="e2e-count", kind="webhook", state="ok"))
    expect(connectors).to_have_text(str(before + 1), timeout=2000)
