"""Every sidebar page loads in Chromium without console errors, behind the security headers."""

import re

import httpx
import pytest
import websocket
from playwright.sync_api import Page, expect

from opssight.routes import SIDEBAR
from tests.e2e.conftest import ConsoleLog, Server, wait_hydrated

PUBLIC = [r for r in SIDEBAR if not r.admin_only]  # what a demo guest's sidebar shows


@pytest.mark.parametrize("route", PUBLIC, ids=[r.title for r in PUBLIC])
def test_sidebar_page_loads_without_console_errors(page: Page, console: ConsoleLog, route):
    response = page.goto(route.path)
    assert response is not None and response.status == 200
    wait_hydrated(page)
    expect(page.locator(".os-page-title")).to_have_text(route.title)
    expect(page.locator(f'.os-nav-link[data-active="true"][href="{route.path}"]')).to_be_visible()
    page.wait_for_timeout(500)
    assert console.errors() == []


def test_sidebar_navigation_reaches_every_page(page: Page, console: ConsoleLog):
    page.goto("/")
    wait_hydrated(page)
    for route in PUBLIC[1:]:
        page.locator(f'.os-sidebar a[href="{route.path}"]').click()
        expect(page.locator(".os-page-title")).to_have_text(route.title)
        expect(page).to_have_url(re.compile(re.escape(route.path) + "$"))
    assert console.errors() == []


def test_pages_and_api_carry_security_headers(server: Server):
    for path in ("/", "/settings", "/health", "/health/detailed", "/metrics"):
        headers = httpx.get(server.url + path, timeout=10).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert "max-age=" in headers["strict-transport-security"], path
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert headers["x-request-id"], path


def test_demo_data_is_labelled(page: Page):
    page.goto("/")
    wait_hydrated(page)
    expect(page.locator(".os-demo-notice")).to_be_visible()
    github = page.locator('[data-connector="github"]')
    expect(github).to_contain_text("4,999/5,000 API requests left")
    expect(github.locator(".os-demo-badge")).to_be_visible()


@pytest.mark.parametrize("path", ["/admin", "/audit"])
def test_admin_pages_send_guests_to_sign_in(page: Page, path: str):
    page.goto(path)
    page.wait_for_url(re.compile(r"/login/?\?next="))
    expect(page.get_by_role("heading", name="Sign in to OpsSight")).to_be_visible()
    expect(page.locator('.os-sidebar a[href="/admin"]')).to_have_count(0)


def test_event_socket_only_accepts_the_apps_own_origin(server: Server):
    socket_url = server.url.replace("http://", "ws://") + "/_event/?EIO=4&transport=websocket"
    own = websocket.create_connection(socket_url, origin=server.url, timeout=10)
    try:
        assert own.recv().startswith("0{")  # Engine.IO "open" packet
    finally:
        own.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(socket_url, origin="https://evil.example", timeout=10)
    assert refused.value.status_code in (400, 403)
