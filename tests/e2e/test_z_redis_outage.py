"""Redis stops: /health/detailed says so truthfully and the pages still serve.

Named to run last: it stops the server's Redis (and starts it again afterwards).
"""

import time

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server


def _detailed(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/health/detailed", timeout=10)


def test_redis_outage_is_reported_and_pages_still_serve(server: Server, page: Page):
    healthy = _detailed(server).json()
    assert healthy["redis"]["state"] == "ok"
    assert healthy["database"]["state"] == "ok"

    server.redis.stop()
    try:
        response = _detailed(server)
        assert response.status_code == 200
        report = response.json()
        assert report["redis"]["state"] == "down"
        assert report["status"] == "degraded"
        assert report["database"]["state"] == "ok"

        for path in ("/", "/pipelines", "/settings"):
            response = httpx.get(server.url + path, timeout=10, follow_redirects=True)
            assert response.status_code == 200
            assert "<html" in response.text.lower()
        page.goto("/settings")
        expect(page.locator(".os-page-title")).to_have_text("Settings")
        expect(page.locator(".os-sidebar")).to_be_visible()
    finally:
        server.redis.start()

    deadline = time.monotonic() + 10
    while _detailed(server).json()["redis"]["state"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _detailed(server).json()["redis"]["state"] == "ok"
