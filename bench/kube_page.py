"""The Kubernetes page in a real browser over 10,000 pods: how long until the pods show.

Loads the pods of ``kube_ingest.pods`` (copies of one real pod) through
``services.clusters.apply`` into a scratch database, starts ``opssight run`` (the production
build, demo off) on it, signs a browser in with a session cookie and times, median of
``--rounds``:

- open: navigation to ``/kubernetes`` until the first page of pods (50 rows) is on screen;
- next page: a click on "Next" until the second page's first pod is shown;
- search: typing a pod name until it is the only row.

    .venv/bin/python bench/kube_page.py [URL] [--pods 10000] [--rounds 5]

URL names the database server (default: a scratch SQLite file, one worker); Chromium is
Debian's ``/usr/bin/chromium`` when present, else Playwright's own.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kube_ingest import fresh_database, pods
from playwright.sync_api import BrowserContext, Page, sync_playwright

from opssight import db
from opssight.config import get_settings
from opssight.integrations import kubernetes as kube
from opssight.models import User
from opssight.services import clusters
from opssight.services.auth import sessions
from tests.support import wait_until_serving  # importable once kube_ingest set the path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(url: str, count: int) -> str:
    """The pods in the database, and a signed-in viewer's session token."""
    with db.session_scope(url) as session:
        clusters.register(session, "bench", "https://bench.invalid")
        clusters.apply(session, "bench", [kube.Listed("Pod", pods(count), "1"), kube.Health("ok")])
        viewer = User(login="bench-viewer", role="viewer")
        session.add(viewer)
        session.commit()
        return sessions.issue(session, user=viewer)


def serve(url: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "opssight.cli", "run", "--port", str(port),
               "--host", "127.0.0.1"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    wait_until_serving(url, process, log, timeout=600)
    return process


def timed(page: Page, action, done: str) -> float:
    started = time.perf_counter()
    action()
    page.wait_for_function(done, timeout=60_000)
    return (time.perf_counter() - started) * 1000


ROWS = "document.querySelectorAll('.os-pod-row')"


def one_round(page: Page, base: str, wanted: str) -> dict[str, float]:
    opened = timed(page, lambda: page.goto(f"{base}/kubernetes"), f"() => {ROWS}.length === 50")
    first = page.locator(".os-pod-row a").first.inner_text()
    next_page = timed(
        page,
        lambda: page.get_by_role("button", name="Next").click(),
        f"() => {ROWS}.length === 50 && !{ROWS}[0].textContent.includes('{first}')",
    )
    searched = timed(
        page,
        lambda: page.locator(".os-kube-search input").fill(wanted),
        f"() => {ROWS}.length === 1 && {ROWS}[0].textContent.includes('{wanted}')",
    )
    return {"open": opened, "next page": next_page, "search": searched}


def rounds(context: BrowserContext, base: str, count: int, n: int) -> dict[str, list[float]]:
    """Each round in a new tab (its own page state), as a person opening the page."""
    figures: dict[str, list[float]] = {"open": [], "next page": [], "search": []}
    wanted = f"e2e-container-creating-{count - 1:05d}"
    for _ in range(n):
        page = context.new_page()
        for name, value in one_round(page, base, wanted).items():
            figures[name].append(value)
        page.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite://")
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="kube-page-"))
    secret = secrets.token_urlsafe(40)
    os.environ.update(OPSSIGHT_SECRET_KEY=secret, OPSSIGHT_DATA_DIR=str(data))
    get_settings.cache_clear()
    url = fresh_database(args.url)
    token = load(url, args.pods)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")}
    env.update(OPSSIGHT_DATABASE_URL=url, OPSSIGHT_DEMO="0", OPSSIGHT_SECRET_KEY=secret,
               OPSSIGHT_DATA_DIR=str(data), OPSSIGHT_PUBLIC_URL=base, OPSSIGHT_PORT=str(port))  # fmt: skip
    server = serve(base, port, env, data / "server.log")
    try:
        with sync_playwright() as playwright:
            chromium = (
                playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                if Path(CHROMIUM).exists()
                else playwright.chromium.launch(args=ARGS)
            )
            context = chromium.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": sessions.COOKIE_NAME, "value": token, "url": base}])
            warm = context.new_page()  # the first load fills the browser's cache
            warm.goto(f"{base}/kubernetes")
            warm.wait_for_selector(".os-pod-row", timeout=120_000)
            warm.close()
            figures = rounds(context, base, args.pods, args.rounds)
            chromium.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"Kubernetes page, {args.pods:,} pods ({db.get_engine(url).dialect.name}), "
          f"median of {args.rounds}:")  # fmt: skip
    for name, values in figures.items():
        print(f"  {name:<10} {statistics.median(values):7.0f} ms  (min {min(values):.0f}, "
              f"max {max(values):.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
