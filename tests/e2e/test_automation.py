"""Ansible in the browser: a real playbook run with the shipped callback against the e2e server
appears live on the open Automation page; its detail shows the task-by-host matrix (failed task
first); the hosts page; the timeline links to it; "What changed before this?" from an alert."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from opssight import db
from opssight.models.base import utcnow
from opssight.services.alerting import alertmanager, history
from tests.ansible_run import playbook_command
from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_alerts import FIRING
from tests.e2e.test_sign_in import sign_in_as_admin


def fire_now(name: str) -> None:
    """The recorded Alertmanager notification, its first alert renamed and firing now."""
    payload = json.loads(FIRING.read_text())
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["labels"]["alertname"] = name
    payload["alerts"][0]["fingerprint"] = uuid.uuid4().hex[:16]
    payload["alerts"][0]["startsAt"] = utcnow().isoformat()
    with db.session_scope() as session:
        _, events = alertmanager.store(session, alertmanager.parse(json.dumps(payload).encode()))
    history.publish(events)


def test_a_playbook_run_appears_live_and_opens_with_its_matrix(
    page: Page, as_server: Server, tmp_path: Path
):
    sign_in_as_admin(page)
    page.goto("/automation")
    wait_hydrated(page)
    expect(page.locator(".os-automation-runs")).to_be_visible(timeout=15000)
    command, env = playbook_command(tmp_path, as_server.url, "site.yml")
    started = time.monotonic()
    playbook = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    row = page.locator(".os-automation-run").filter(has_text="Configure the web tier").first
    expect(row).to_be_visible(timeout=15000)  # no reload: pushed by the automation topic
    assert playbook.wait(timeout=120) == 2
    assert time.monotonic() - started < 60
    expect(row.locator(".os-status")).to_have_text("failed", timeout=10000)
    expect(row).to_contain_text("2 host(s), 1 failed")
    expect(page.locator(".os-run-durations .scatterlayer .point").first).to_be_attached()

    row.locator(".os-open-run").click()
    detail = page.locator(".os-automation-detail")
    expect(detail).to_be_visible()
    tasks = detail.locator(".os-matrix-task")
    expect(tasks).to_have_count(6, timeout=15000)
    first = tasks.first  # failed tasks first
    expect(first).to_contain_text("Check the config directory")
    expect(first.locator(".os-matrix-cell")).to_have_count(2)  # web-1, web-2
    expect(first.locator(".os-matrix-cell").first).to_have_attribute("data-status", "failed")
    expect(first.locator(".os-matrix-cell").nth(1)).to_have_attribute("data-status", "skipped")
    expect(detail.locator(".os-failure-message").first).to_contain_text("non-zero return code")
    expect(detail.locator(".os-task-durations .barlayer .point").first).to_be_attached()
    expect(detail.locator(".os-recap")).to_have_count(2)  # one recap row per host

    page.goto("/automation/hosts")
    wait_hydrated(page)
    host = page.locator(".os-automation-host").filter(has_text="web-1")
    expect(host.locator(".os-status")).to_have_text("failed", timeout=10000)


def test_the_timeline_links_to_the_run_and_answers_what_changed_before_an_alert(
    page: Page, as_server: Server, tmp_path: Path
):
    command, env = playbook_command(tmp_path, as_server.url, "ok.yml")
    assert subprocess.run(command, env=env, capture_output=True, timeout=120).returncode == 0
    sign_in_as_admin(page)
    page.goto("/timeline")
    wait_hydrated(page)
    entry = page.locator('.os-timeline-entry[data-kind="ansible"]').filter(
        has_text="Check the web tier"
    )
    expect(entry.first).to_be_visible(timeout=15000)
    entry.first.locator(".os-entry-link").click()
    page.wait_for_url(re.compile(r"/automation/?\?run="))
    expect(page.locator(".os-automation-detail")).to_contain_text("Check the web tier")

    name = f"E2E_{uuid.uuid4().hex[:6]}"
    fire_now(name)
    page.goto("/alerts")
    wait_hydrated(page)
    alert = page.locator(".os-alert").filter(has_text=name)
    alert.locator(".os-changed-before").click()
    page.wait_for_url(re.compile(r"/timeline/?\?alert="))
    anchor = page.locator(".os-anchor")
    expect(anchor).to_contain_text("What changed before this?")
    expect(anchor).to_contain_text(f"{name} firing")
    before = page.locator('.os-timeline-entry[data-kind="ansible"]').filter(
        has_text="Check the web tier"
    )
    expect(before.first).to_be_visible()  # the playbook ran just before the alert fired
