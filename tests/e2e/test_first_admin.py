"""The first sign-in in a real browser: OpsSight started without ``OPSSIGHT_ADMIN_PASSWORD`` on an
empty database prints the admin's password, the sign-in page says where it is saved, and it signs
in to the admin pages; once it has, the sign-in page no longer points at it.

The server is the app served by granian on a database of its own (SQLite, one worker), with a
copy of the end-to-end server's build pointed at its port, as in ``test_z_workers``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_z_workers import Worker, _frontend_for, _kill, _start
from tests.support import free_port, wait_until_serving

BOX_PASSWORD = re.compile(r"^\|\s+Password\s+(\S+)\s+\|$", re.MULTILINE)


@pytest.fixture
def first_start(server: Server, tmp_path: Path) -> Iterator[Worker]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")}
    env |= {
        "OPSSIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'first.db'}",
        "OPSSIGHT_DATA_DIR": str(tmp_path / "data"),
        "OPSSIGHT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OPSSIGHT_DEMO": "0",
        **_frontend_for(port, server, tmp_path / "web"),
    }
    worker = _start(port, env, tmp_path / "server.log")
    try:
        wait_until_serving(worker.url, worker.process, worker.log, timeout=180)
        yield worker
    finally:
        _kill(worker)


def test_the_printed_password_signs_in_as_admin(
    browser: Browser, first_start: Worker, tmp_path: Path
) -> None:
    printed = first_start.log.read_text()
    (password,) = BOX_PASSWORD.findall(printed)
    assert f"Sign in at  {first_start.url}/login" in printed
    saved = tmp_path / "data" / "initial-admin-password"

    context = browser.new_context(base_url=first_start.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/settings/connections")  # demo off: sent to the sign-in page
    page.wait_for_url(re.compile(r"/login"))
    expect(page.locator(".os-first-start")).to_contain_text(f"also saved in {saved}")
    page.locator("#login-name").fill("admin")
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/settings/connections/?$"))
    wait_hydrated(page)
    expect(page.get_by_role("button", name="Add GitHub")).to_be_visible()  # an admin's page
    context.close()

    stranger = browser.new_context(base_url=first_start.url).new_page()
    stranger.goto("/login?next=/admin")
    stranger.wait_for_function(  # the page has loaded its state
        "() => [...document.querySelectorAll('input[name=next]')].some(e => e.value === '/admin')"
    )
    expect(stranger.locator(".os-first-start")).to_have_count(0)
    stranger.context.close()
