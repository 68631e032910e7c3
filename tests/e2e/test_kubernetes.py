"""The Kubernetes page in a browser: the demo cluster and a watched replay cluster side by side,
problems, a pod's detail, logs by role, and a watch event reaching the open page."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, wait_hydrated
from tests.e2e.test_sign_in import sign_in_as_admin

RUNNING = ("default", "emailservice-5f8fc7dbb4-5lqdb")  # a Running pod of the replayed cluster
CRASHING = ("scraper", "e2e-container-creating")  # a recorded pod in CrashLoopBackOff


def open_kubernetes(page: Page) -> None:
    page.goto("/kubernetes")
    wait_hydrated(page)
    expect(page.locator('.os-cluster[data-cluster="replay"]')).to_be_visible(timeout=15000)


def search(page: Page, text: str) -> None:
    page.locator(".os-kube-search input").fill(text)
    expect(page.locator(".os-pod-row").first).to_contain_text(text)


def test_clusters_and_problems(page: Page, as_server: Server) -> None:
    open_kubernetes(page)
    demo = page.locator('.os-cluster[data-cluster="demo-eks"]')
    expect(demo.locator(".os-demo-badge")).to_be_visible()
    replay = page.locator('.os-cluster[data-cluster="replay"]')
    expect(replay.locator(".os-status")).to_have_text("ok")
    expect(replay).to_contain_text("nodes ready")
    problems = page.locator(".os-problems")
    expect(problems.locator(".os-problem").filter(has_text=CRASHING[1]).first).to_contain_text(
        "CrashLoopBackOff"
    )


def test_a_watch_event_reaches_the_open_page(page: Page, as_server: Server) -> None:
    cluster = as_server.cluster
    namespace, name = RUNNING
    open_kubernetes(page)
    search(page, name)
    row = page.locator(".os-pod-row").filter(has_text="replay")
    expect(row.locator(".os-status")).to_have_text("Running")
    crashing = cluster.get("Pod", CRASHING[1], CRASHING[0])["status"]
    started = time.monotonic()
    cluster.modify("Pod", name, namespace, lambda pod: pod.update(status=crashing))
    expect(row.locator(".os-status")).to_have_text("CrashLoopBackOff", timeout=5000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the page showed the watch event after {elapsed:.2f}s"


def test_logs_are_for_roles_with_write(page: Page, as_server: Server) -> None:
    cluster = as_server.cluster
    namespace, name = CRASHING
    cluster.set_log(namespace, name, ["starting scraper", "panic: no config"], container="alpine")
    open_kubernetes(page)
    search(page, name)
    page.locator(".os-pod-row").filter(has_text="replay").get_by_role("link").click()
    detail = page.locator(".os-pod-detail")
    expect(detail).to_contain_text("logs: developers and admins")  # a demo guest

    sign_in_as_admin(page)
    open_kubernetes(page)
    search(page, name)
    page.locator(".os-pod-row").filter(has_text="replay").get_by_role("link").click()
    detail.get_by_role("button", name="Logs", exact=True).click()
    expect(page.locator(".os-pod-logs")).to_contain_text("panic: no config")

    cluster.set_status(f"/api/v1/namespaces/{namespace}/pods/{name}/log", 403)
    detail.get_by_role("button", name="Logs", exact=True).click()
    expect(detail).to_contain_text("may not")
