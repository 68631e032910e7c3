"""The production server (started once per run) and a real browser.

The server runs like production: ``opssight run`` (prod build, one port) on a fresh PostgreSQL
database, with a private redis-server as event bus and Reflex state store, and two workers.
The test process shares the database, bus and secret key, so it can change data through the
service layer and watch the browser react.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.ansible_run import TOKEN as ANSIBLE_TOKEN
from tests.replay.kubernetes import KubeReplay, write_kubeconfig
from tests.replay.oauth import OAuthProvider
from tests.support import (
    ROOT,
    RedisProcess,
    free_port,
    missing_service,
    private_redis_server,
    reset_caches,
    wait_until_serving,
)

SECRET_KEY = "e2e-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "e2e-webhook-secret-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 600
ADMIN_PASSWORD = "e2e-admin-password-0123456789"
VIEWER = "mona"  # a GitHub user no role rule matches: signs in as a viewer


class Server(NamedTuple):
    url: str
    env: dict[str, str]
    redis: RedisProcess
    log: Path
    github: OAuthProvider
    cluster: KubeReplay  # the context "replay" of the server's kubeconfig


@pytest.fixture(scope="session")
def e2e_cluster() -> Iterator[KubeReplay]:
    """A Kubernetes API server (replaying real payloads) the server watches live."""
    with KubeReplay() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def e2e_github() -> Iterator[OAuthProvider]:
    """The GitHub the server signs people in with (a local OAuth provider)."""
    with OAuthProvider() as provider:
        yield provider


@pytest.fixture(scope="session")
def e2e_redis() -> Iterator[RedisProcess]:
    with private_redis_server("for the end-to-end tests") as server:
        yield server


@pytest.fixture(scope="session")
def server(
    migrated_postgres: str,
    e2e_redis: RedisProcess,
    e2e_github: OAuthProvider,
    e2e_cluster: KubeReplay,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    e2e_github.register_callback(f"{url}/api/auth/github/callback")
    e2e_github.add_user(
        VIEWER,
        name="Mona Lisa Octocat",
        email="mona@example.com",
        orgs=["octo-org"],
        teams=[("octo-org", "platform")],
        avatar_url=f"{url}/logo.svg",
    )
    data_dir = tmp_path_factory.mktemp("server-data")
    kubeconfig = write_kubeconfig(data_dir / "kubeconfig", {"replay": e2e_cluster})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")}
    opssight_env = {
        "OPSSIGHT_DATABASE_URL": migrated_postgres,
        "OPSSIGHT_REDIS_URL": e2e_redis.url,
        "OPSSIGHT_SECRET_KEY": SECRET_KEY,
        "OPSSIGHT_PUBLIC_URL": url,
        "OPSSIGHT_PORT": str(port),
        "OPSSIGHT_DATA_DIR": str(data_dir),
        "OPSSIGHT_DEMO": "1",
        "OPSSIGHT_DEMO_INTERVAL_SECONDS": "60",
        "OPSSIGHT_DEMO_HISTORY_DAYS": "3",
        "OPSSIGHT_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OPSSIGHT_ANSIBLE_TOKEN": ANSIBLE_TOKEN,
        "OPSSIGHT_GITHUB_CLIENT_ID": e2e_github.client_id,
        "OPSSIGHT_GITHUB_CLIENT_SECRET": e2e_github.client_secret,
        "OPSSIGHT_GITHUB_URL": e2e_github.url,
        "OPSSIGHT_GITHUB_API_URL": e2e_github.api_url,
        "OPSSIGHT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "OPSSIGHT_KUBECONFIG": str(kubeconfig),
    }
    env.update(opssight_env, GRANIAN_WORKERS="2")
    log = data_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opssight.cli",
                "run",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(url, process, log, timeout=START_TIMEOUT)
        yield Server(url, opssight_env, e2e_redis, log, e2e_github, e2e_cluster)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def as_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """Point this test process's settings at the server's database, bus and secret key."""
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    return server


def _launch(playwright: Playwright) -> Browser:
    """Debian's Chromium when present; else Playwright's own, installed on first use."""
    if Path(CHROMIUM).exists():
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        return playwright.chromium.launch(args=CHROMIUM_ARGS)
    except PlaywrightError:
        subprocess.run(
            [sys.executable, "-m", "playwright", "install", "chromium"], check=False, timeout=600
        )
    try:
        return playwright.chromium.launch(args=CHROMIUM_ARGS)
    except PlaywrightError as exc:
        missing_service(
            "A Chromium is needed: install Debian's `chromium` or run "
            f"`python -m playwright install chromium` ({str(exc).splitlines()[0]})"
        )
        raise


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = _launch(playwright)
        yield launched
        launched.close()


class ConsoleLog(list):
    def errors(self) -> list[str]:
        return [line for line in self if line.startswith(("error", "pageerror"))]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser: Browser, server: Server, console: ConsoleLog) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    new_page = context.new_page()
    new_page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    new_page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    yield new_page
    context.close()


def wait_hydrated(page: Page) -> None:
    """The state has loaded from the backend (the shell's on_load ran)."""
    page.wait_for_selector(".os-root[data-variant]", state="attached")
    page.wait_for_function("() => !!document.querySelector('.os-user-button')")
    page.wait_for_timeout(300)
