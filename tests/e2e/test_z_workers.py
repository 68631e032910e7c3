"""Two server processes (workers) on one PostgreSQL database and one Redis, as when scaled out:
a browser on one sees a webhook delivery ingested by the other, and killing the process that
leads the background jobs hands every one of them to the other within 30 s.

Each worker is the app served by granian (``opssight.opssight:app``, what ``opssight run``
serves) without compiling. Worker A also serves the frontend, as ``opssight run`` does: a copy of
the end-to-end server's build (the ``server`` fixture makes it) whose bundle is pointed at A,
because Reflex compiles its backend's port into the bundle. Worker B serves the backend only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import make_url

from opssight import db
from opssight.jobs.leader import lock_key
from opssight.models import User
from opssight.services.auth import sessions
from opssight.services.webhooks import sign
from tests.e2e.conftest import Server, wait_hydrated
from tests.support import (
    ROOT,
    RedisProcess,
    free_port,
    private_redis_server,
    reset_caches,
    wait_until_serving,
)

SECRET_KEY = "workers-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "workers-webhook-secret-0123456789"
JOBS = ("dora.links", "retention", "partitions", "alerts.evaluate", "alerts.notify")  # demo off
PAYLOAD = ROOT / "tests/fixtures/github/webhooks/octokit.workflow_run.completed.payload.json"
WEB = ROOT / ".web"
PRECOMPRESSED = ("*.gz", "*.br", "*.zst")  # served instead of a file when present
HANDOVER_SECONDS = 30


class Worker(NamedTuple):
    url: str
    process: subprocess.Popen
    log: Path


class Cluster(NamedTuple):
    database: str
    env: dict[str, str]
    workers: list[Worker]


def _frontend_for(port: int, server: Server, web_dir: Path) -> dict[str, str]:
    """A web directory whose build talks to ``port``, and the variables that make a worker
    serve it: a copy of the server's build with its backend origin rewritten (precompressed
    copies left out), and the markers Reflex reads from ``backend/`` when it skips compiling."""
    event = urlsplit(json.loads((WEB / "env.json").read_text())["EVENT"])
    assert event.port == urlsplit(server.url).port, "the build in .web is not the server's"
    shutil.copytree(WEB / "backend", web_dir / "backend")
    client = web_dir / "build" / "client"
    shutil.copytree(WEB / "build" / "client", client, ignore=shutil.ignore_patterns(*PRECOMPRESSED))
    built, served = event.netloc.encode(), f"{event.hostname}:{port}".encode()
    rewritten = [p for p in client.rglob("*") if p.is_file() and built in p.read_bytes()]
    assert rewritten, f"{event.netloc} is in no file of the build"
    for path in rewritten:
        path.write_bytes(path.read_bytes().replace(built, served))
    return {"REFLEX_WEB_WORKDIR": str(web_dir), "__REFLEX_MOUNT_FRONTEND_COMPILED_APP": "true"}


def _start(port: int, env: dict[str, str], log: Path) -> Worker:
    bin_dir = str(Path(sys.executable).parent)
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(Path(bin_dir) / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--factory", "opssight.opssight:app"],
            cwd=ROOT,
            env={**env, "OPSSIGHT_PORT": str(port), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return Worker(f"http://127.0.0.1:{port}", process, log)


def _kill(worker: Worker) -> None:
    if worker.process.poll() is None:
        os.killpg(worker.process.pid, signal.SIGKILL)  # granian and its worker, started here
        worker.process.wait()


@pytest.fixture(scope="module")
def cluster(
    postgres_server: str, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    name = f"opssight_workers_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_server).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    logs = tmp_path_factory.mktemp("workers")
    workers: list[Worker] = []
    try:
        with private_redis_server("for the two-worker test") as redis_server:
            db.run_migrations(database)
            env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")}
            opssight_env = _env(database, redis_server, logs)
            env.update(opssight_env)
            env.update(
                {  # never compile into the shared .web (Reflex reads its internal variables
                    "__REFLEX_SKIP_COMPILE": "true",  # with a "__" prefix)
                    "REFLEX_ENV_MODE": "prod",
                    "REFLEX_USE_NPM": "1",
                    "REFLEX_TELEMETRY_ENABLED": "false",
                }
            )
            ports = [free_port(), free_port()]
            frontend = _frontend_for(ports[0], server, logs / "web")
            try:
                workers = [
                    _start(ports[0], {**env, **frontend}, logs / "worker-a.log"),
                    _start(ports[1], env, logs / "worker-b.log"),
                ]
                for worker in workers:
                    wait_until_serving(worker.url, worker.process, worker.log, timeout=180)
                yield Cluster(database, opssight_env, workers)
            finally:
                for worker in workers:
                    _kill(worker)
    finally:  # dropped whatever failed on the way
        db.get_engine(database).dispose()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(database: str, redis_server: RedisProcess, logs: Path) -> dict[str, str]:
    return {
        "OPSSIGHT_DATABASE_URL": database,
        "OPSSIGHT_REDIS_URL": redis_server.url,
        "OPSSIGHT_SECRET_KEY": SECRET_KEY,
        "OPSSIGHT_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OPSSIGHT_DEMO": "0",
        "OPSSIGHT_DATA_DIR": str(logs / "data"),
    }


@pytest.fixture
def same_settings(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    """This test process on the workers' database and secret key (to sign a viewer in)."""
    for name, value in cluster.env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    return cluster


def _viewer_token() -> str:
    with db.session_scope() as session:
        viewer = User(login=f"viewer-{uuid.uuid4().hex[:6]}", role="viewer")
        session.add(viewer)
        session.commit()
        session.refresh(viewer)
        return sessions.issue(session, user=viewer, method="github")


def _deliver(url: str) -> httpx.Response:
    body = PAYLOAD.read_bytes()
    headers = {
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{url}/api/webhooks/github", content=body, headers=headers, timeout=10)


def _live_clients(url: str) -> float:
    """``opssight_live_clients`` of the one process behind ``url``."""
    lines = httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
    return float(
        next(line for line in lines if line.startswith("opssight_live_clients")).split()[1]
    )


def test_a_browser_on_one_worker_sees_a_delivery_ingested_by_the_other(
    browser: Browser, same_settings: Cluster
) -> None:
    watched, ingesting = same_settings.workers
    delivered_run = json.loads(PAYLOAD.read_text())
    run = delivered_run["workflow_run"]
    context = browser.new_context(base_url=watched.url)
    context.add_cookies([{"name": sessions.COOKIE_NAME, "value": _viewer_token(),
                          "url": watched.url, "httpOnly": True, "sameSite": "Lax"}])  # fmt: skip
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    try:
        page.goto("/pipelines")
        wait_hydrated(page)
        expect(page.get_by_text("No run matches these filters.")).to_be_visible()
        deadline = time.monotonic() + 10
        while _live_clients(watched.url) < 1:  # the tab's listener runs on A
            assert time.monotonic() < deadline, "the tab never started listening on worker A"
            time.sleep(0.1)

        answer = _deliver(ingesting.url)
        assert answer.status_code == 200 and answer.json()["result"] == "stored", answer.text
        delivered = time.monotonic()
        row = page.locator(f'[data-run="{run["id"]}:{run["run_attempt"]}"]')
        expect(row).to_be_visible(timeout=5000)
        after = time.monotonic() - delivered
        expect(row).to_contain_text(delivered_run["repository"]["full_name"])
        expect(row.locator(".os-status")).to_have_text(run["conclusion"])
    finally:
        context.close()
    worker_a = f"ws://{urlsplit(watched.url).netloc}/"
    assert sockets and all(url.startswith(worker_a) for url in sockets), sockets
    print(f"delivery on worker B -> run in the browser on worker A after {after * 1000:.0f} ms")


def _leaders(database: str) -> dict[str, int]:
    """Job -> the OS pid of the process whose leader session holds its lock."""
    keys = {lock_key(job): job for job in JOBS}
    conninfo = make_url(database).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as connection:
        rows = connection.execute(
            "SELECT l.objid::bigint, a.application_name FROM pg_locks l"
            " JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
        ).fetchall()
    return {
        keys[objid]: int(name.removeprefix("opssight-leader pid="))
        for objid, name in rows
        if objid in keys and name.startswith("opssight-leader pid=")
    }


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _wait_for_leaders(database: str, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while (leaders := _leaders(database)).keys() != set(JOBS) and time.monotonic() < deadline:
        time.sleep(0.2)
    return leaders


def test_killing_the_leading_process_hands_its_jobs_over(cluster: Cluster) -> None:
    leaders = _wait_for_leaders(cluster.database, 30)
    assert leaders.keys() == set(JOBS), f"not every job has a leader: {leaders}"
    by_group = {worker.process.pid: worker for worker in cluster.workers}
    leading = by_group[_group(leaders["alerts.evaluate"])]
    survivor = next(w for w in cluster.workers if w is not leading)
    log_before = len(survivor.log.read_text())

    _kill(leading)
    killed = time.monotonic()
    leaders = _wait_for_leaders(cluster.database, 0)
    while {_group(pid) for pid in leaders.values()} != {survivor.process.pid} or len(leaders) < len(
        JOBS
    ):
        assert time.monotonic() - killed < HANDOVER_SECONDS, f"jobs still led by {leaders}"
        time.sleep(0.2)
        leaders = _leaders(cluster.database)
    handed_over = time.monotonic() - killed

    taken = [
        json.loads(line)["job"]
        for line in survivor.log.read_text()[log_before:].splitlines()
        if line.startswith("{") and '"job.leading"' in line
    ]
    assert "alerts.evaluate" in taken, "the survivor's log says which jobs it now leads"
    assert httpx.get(f"{survivor.url}/health", timeout=5).status_code == 200
    print(f"jobs handed over {handed_over:.1f} s after the leader was killed: {sorted(taken)}")
