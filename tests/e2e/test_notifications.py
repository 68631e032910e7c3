"""Notifications in the browser: an admin makes a policy through the form (a bad regex refused in
the form), an Alertmanager notification fires an alert, a local HTTP receiver gets exactly one
notification and the delivery shows in the delivery log; an alert's own history page; running
PromQL refused server-side to a role without metrics:view; a saved panel edited."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from opssight import db
from opssight.models import Alert, User
from opssight.services import metrics
from opssight.services.alerting import alertmanager, history, personal
from opssight.services.auth import sessions
from opssight.state.metrics import MetricsState
from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_sign_in import sign_in_as_admin
from tests.integration.test_notifications import Receiver, contact
from tests.socket_client import SocketClient

FIRING = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"
FIRING = FIRING / "prometheus-msteams.webhook.firing.json"
NOTIFY_WAIT = 20.0  # the notify job passes every 5 s


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def fire(name: str) -> int:
    """The recorded notification's first alert, renamed and with a fingerprint of its own."""
    payload = json.loads(FIRING.read_text())
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["labels"]["alertname"] = name
    payload["alerts"][0]["fingerprint"] = uuid.uuid4().hex[:16]
    parsed = alertmanager.parse(json.dumps(payload).encode())
    with db.session_scope() as session:
        _, events = alertmanager.store(session, parsed)
        alert_id = session.exec(select(Alert.id).where(Alert.name == name)).one()
    history.publish(events)
    return alert_id


def open_notifications(page: Page) -> None:
    page.goto("/alerts")
    wait_hydrated(page)
    page.locator(".os-tab-notify").click()
    expect(page.locator(".os-policies")).to_be_visible(timeout=15000)


def test_a_policy_made_in_the_form_notifies_once_and_is_logged(
    page: Page, as_server: Server, receiver: Receiver
) -> None:
    suffix = uuid.uuid4().hex[:6]
    point, name, policy = f"hook-{suffix}", f"E2E_{suffix}", f"e2e policy {suffix}"
    with db.session_scope() as session:
        contact(session, point, "webhook", f"{receiver.url}/hook")
    sign_in_as_admin(page)
    open_notifications(page)

    page.locator(".os-new-policy").click()
    page.get_by_label("Policy name").fill(policy)
    page.get_by_label("Matchers").fill(f"alertname=~{name}(")
    page.get_by_label("Contact point", exact=True).click()
    page.get_by_role("option", name=f"{point} (webhook)").click()
    page.get_by_label("Group wait").fill("0s")
    page.locator(".os-save-policy").click()
    expect(page.locator(".os-policy-error")).to_contain_text("not a valid regex")
    page.get_by_label("Matchers").fill(f"alertname={name}")
    page.locator(".os-save-policy").click()
    row = page.locator(".os-policy").filter(has_text=policy)
    expect(row).to_contain_text(f"alertname={name}", timeout=5000)
    expect(row).to_contain_text(point)

    fire(name)
    deadline = time.monotonic() + NOTIFY_WAIT
    while not receiver.got("/hook") and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(6)  # one more notify pass: nothing more to send
    [body] = receiver.got("/hook")
    assert (body["policy"], [a["name"] for a in body["alerts"]]) == (policy, [name])

    delivery = page.locator(".os-delivery").filter(has_text=policy)
    expect(delivery).to_have_count(1, timeout=10000)
    expect(delivery.locator(".os-status")).to_have_text("sent")
    expect(delivery).to_contain_text(point)
    page.get_by_label("Delivery status").click()
    page.get_by_role("option", name="failed", exact=True).click()
    expect(page.locator(".os-delivery").filter(has_text=policy)).to_have_count(0)


def test_an_alert_opens_its_own_history(page: Page, as_server: Server) -> None:
    sign_in_as_admin(page)
    page.goto("/alerts")
    wait_hydrated(page)
    name = f"E2E_{uuid.uuid4().hex[:6]}"
    alert_id = fire(name)
    row = page.locator(".os-alert").filter(has_text=name)
    row.locator(".os-ack").click()
    expect(row).to_contain_text("admin ·", timeout=5000)
    row.locator(".os-alert-link").click()
    expect(page).to_have_url(re.compile(rf"/alerts/{alert_id}/?$"), timeout=10000)
    expect(page.locator(".os-alert-name")).to_have_text(name)
    changes = page.locator(".os-alert-transition")
    expect(changes).to_have_count(2)
    expect(changes.first).to_contain_text("acknowledged by admin")
    expect(changes.last).to_contain_text("Normal → Firing")
    page.goto(f"/alerts/{alert_id + 100000}")
    expect(page.locator(".os-alert-missing")).to_be_visible()


def _run_as(url: str, cookie: str) -> dict:
    """Load the explorer, write ``up`` and run it on one socket; what the run sent back."""

    async def run() -> dict:
        client = SocketClient(url, cookie=cookie, pathname="/metrics-explorer")
        try:
            await client.connect()
            state = MetricsState.get_full_name()
            await client.send(f"{state}.load")
            await client.send(f"{state}.edit_promql", {"value": "up"})
            replies = await client.send(f"{state}.run", quiet=2.0)
        finally:
            await client.close()
        return {
            name.removesuffix("_rx_state_"): value
            for name, value in replies.state_vars(state).items()
        }

    with ThreadPoolExecutor(1) as pool:  # sync Playwright may hold this thread's event loop
        return pool.submit(asyncio.run, run()).result()


def test_running_promql_is_refused_server_side_without_metrics_view(as_server: Server) -> None:
    with db.session_scope() as session:
        tokens = {}
        for role in ("user", "viewer"):
            person = User(login=f"e2e-{role}-{uuid.uuid4().hex[:6]}", role=role)
            session.add(person)
            session.commit()
            session.refresh(person)
            tokens[role] = sessions.issue(session, user=person, method="password")
    cookie = {role: f"{sessions.COOKIE_NAME}={token}" for role, token in tokens.items()}
    refused = _run_as(as_server.url, cookie["user"])
    assert refused["query_error"] == metrics.QUERY_REFUSED and "ran" not in refused
    answered = _run_as(as_server.url, cookie["viewer"])
    assert answered["ran"] is True and answered["result_type"] == "matrix"


def test_a_saved_panel_is_edited(page: Page, as_server: Server) -> None:
    sign_in_as_admin(page)
    page.goto("/metrics-explorer")
    wait_hydrated(page)
    title = f"E2E panel {uuid.uuid4().hex[:6]}"
    page.get_by_label("Panel title", exact=True).fill(title)
    page.wait_for_timeout(300)
    page.get_by_role("button", name="Save as panel").click()
    saved = page.locator(".os-metric-panel").filter(has_text=title)
    expect(saved).to_be_visible(timeout=10000)
    expect(saved.locator(".scatterlayer .trace").first).to_be_attached()  # its chart draws
    saved.locator(".os-edit-panel").click()
    page.get_by_label("Title of the panel").fill(f"{title} edited")
    page.get_by_label("Panel PromQL").fill("")
    page.locator(".os-save-panel").click()
    expect(page.locator(".os-panel-error")).to_contain_text("promql")
    page.get_by_label("Panel PromQL").fill("up")
    page.locator(".os-save-panel").click()
    expect(page.locator(".os-metric-panel").filter(has_text=f"{title} edited")).to_be_visible()


def test_a_demo_visitor_sees_the_demo_alerts(page: Page) -> None:
    page.goto("/alerts")
    wait_hydrated(page)
    demo = page.locator(".os-alert").filter(has_text="alertmanager-demo")
    expect(demo.filter(has_text="JustATestAlert_1").first).to_be_visible(timeout=15000)
    expect(demo.filter(has_text="CPUThrottlingHigh").first).to_be_visible()


def test_my_notifications_are_saved_for_the_signed_in_person(page: Page, as_server: Server) -> None:
    sign_in_as_admin(page)
    open_notifications(page)
    mine = page.locator(".os-my-notifications")
    mine.locator(".os-my-enabled").click()
    mine.get_by_label("Quiet from (HH:MM)").fill("22:00")
    mine.get_by_label("Quiet until (HH:MM)").fill("07:00")
    mine.get_by_label("My time zone").fill("Mars/Olympus")
    mine.locator(".os-my-save").click()
    expect(mine.locator(".os-my-error")).to_contain_text("not a time zone like Europe/Paris")
    mine.get_by_label("My time zone").fill("Europe/Paris")
    mine.locator(".os-my-save").click()
    expect(page.get_by_text("Your notification preferences are saved.")).to_be_visible()
    with db.session_scope() as session:
        admin = session.exec(select(User).where(User.login == "admin")).one()
        prefs = personal.preferences(session, admin)
    assert (prefs.enabled, prefs.quiet_start, prefs.quiet_end, prefs.timezone) == (
        True,
        "22:00",
        "07:00",
        "Europe/Paris",
    )
    page.reload()
    wait_hydrated(page)
    page.locator(".os-tab-notify").click()
    expect(page.get_by_label("My time zone")).to_have_value("Europe/Paris")
