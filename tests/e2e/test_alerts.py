"""The Alerts page in a browser: an Alertmanager notification reaching the open page, the
acknowledgement, and a rule created through the form (a bad duration refused in the form)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from opssight import db
from opssight.services.alerting import alertmanager, history
from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_sign_in import sign_in_as_admin

FIRING = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
FIRING = FIRING / "prometheus-msteams.webhook.firing.json"


def _notify(name: str) -> None:
    """The recorded notification, its first alert renamed and given a fingerprint of its own."""
    payload = json.loads(FIRING.read_text())
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["labels"]["alertname"] = name
    payload["alerts"][0]["fingerprint"] = uuid.uuid4().hex[:16]
    parsed = alertmanager.parse(json.dumps(payload).encode())
    with db.session_scope() as session:
        _, events = alertmanager.store(session, parsed)
    history.publish(events)


def open_alerts(page: Page) -> None:
    page.goto("/alerts")
    wait_hydrated(page)
    expect(page.locator(".os-rules")).to_be_visible(timeout=15000)


def test_a_notification_reaches_the_open_page_and_is_acknowledged(page: Page, as_server: Server):
    sign_in_as_admin(page)
    open_alerts(page)
    name = f"E2E_{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    _notify(name)
    row = page.locator(".os-alert").filter(has_text=name)
    expect(row.locator(".os-status")).to_have_text("Firing", timeout=5000)
    assert time.monotonic() - started < 2.0
    row.locator(".os-ack").click()
    expect(row).to_contain_text("admin ·", timeout=5000)
    history_row = page.locator(".os-transition").filter(has_text=name).first
    expect(history_row).to_contain_text("acknowledged by admin")


def test_a_rule_is_created_through_the_form(page: Page, as_server: Server):
    sign_in_as_admin(page)
    open_alerts(page)
    name = f"E2E rule {uuid.uuid4().hex[:6]}"
    page.locator(".os-new-rule").click()
    page.get_by_label("Rule name").fill(name)
    page.get_by_label("Expression").fill("vector(1) > 0")
    page.get_by_label("For", exact=True).fill("five minutes")
    page.locator(".os-save-rule").click()
    expect(page.locator(".os-rule-error")).to_contain_text("not a duration like 30s, 5m or 1h")
    page.get_by_label("For", exact=True).fill("5m")
    page.locator(".os-save-rule").click()
    rule = page.locator(".os-rule").filter(has_text=name)
    expect(rule).to_contain_text("5m 00s", timeout=5000)
    expect(rule).to_contain_text("vector(1) > 0")


def test_an_alert_is_silenced_from_its_row_and_the_silence_ended(page: Page, as_server: Server):
    sign_in_as_admin(page)
    open_alerts(page)
    name = f"E2E_{uuid.uuid4().hex[:6]}"
    _notify(name)
    row = page.locator(".os-alert").filter(has_text=name)
    row.get_by_role("button", name="Silence 1h").click()
    expect(page.get_by_text("Silenced for 1 h.")).to_be_visible()
    silence = page.locator(".os-silence-row").filter(has_text=f"alertname={name}")
    expect(silence).to_contain_text("from alert")
    silence.get_by_role("button", name="End").click()
    expect(silence).to_have_count(0)
