"""Two server processes (workers) on one PostgreSQL database and one Redis, as when scaled out:
a websocket client of one sees a webhook delivery ingested by the other, and killing the process
that leads the background jobs hands every one of them to the other within 30 s.

Each worker is the app's backend served by granian (``opssight.opssight:app``, what ``opssight
run`` serves, without building the frontend: the client speaks the frontend's socket protocol).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from opssight import db
from opssight.jobs.leader import lock_key
from opssight.models import User
from opssight.services.auth import sessions
from opssight.services.webhooks import sign
from opssight.state.live import LiveState
from opssight.state.pipelines import PipelinesState
from tests.socket_client import SocketClient
from tests.support import ROOT, RedisProcess, free_port, private_redis_server, reset_caches

SECRET_KEY = "workers-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "workers-webhook-secret-0123456789"
JOBS = ("dora.links", "retention", "partitions", "alerts.evaluate", "alerts.notify")  # demo off
PAYLOAD = ROOT / "tests" / "fixtures" / "github" / "webhooks"
RUN_ID = "289782451"  # the run of octokit.workflow_run.completed.payload.json
HANDOVER_SECONDS = 30


class Worker(NamedTuple):
    url: str
    process: subprocess.Popen
    log: Path


class Cluster(NamedTuple):
    database: str
    env: dict[str, str]
    workers: list[Worker]


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


def _wait_serving(worker: Worker, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited ({worker.process.returncode}):\n{worker.log.read_text()}")
        try:
            if httpx.get(f"{worker.url}/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"worker not serving after {timeout} s:\n{worker.log.read_text()[-3000:]}")


def _kill(worker: Worker) -> None:
    if worker.process.poll() is None:
        os.killpg(worker.process.pid, signal.SIGKILL)  # granian and its worker, started here
        worker.process.wait()


@pytest.fixture(scope="module")
def cluster(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
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
                {  # the backend only: never compile into the shared .web (Reflex reads its
                    "__REFLEX_SKIP_COMPILE": "true",  # internal variables with a "__" prefix)
                    "REFLEX_ENV_MODE": "prod",
                    "REFLEX_USE_NPM": "1",
                    "REFLEX_TELEMETRY_ENABLED": "false",
                }
            )
            try:
                workers = [_start(free_port(), env, logs / f"worker-{i}.log") for i in range(2)]
                for worker in workers:
                    _wait_serving(worker)
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


def _viewer_cookie() -> str:
    with db.session_scope() as session:
        viewer = User(login=f"viewer-{uuid.uuid4().hex[:6]}", role="viewer")
        session.add(viewer)
        session.commit()
        session.refresh(viewer)
        return f"{sessions.COOKIE_NAME}={sessions.issue(session, user=viewer, method='github')}"


async def _deliver(url: str) -> httpx.Response:
    body = (PAYLOAD / "octokit.workflow_run.completed.payload.json").read_bytes()
    headers = {
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{url}/api/webhooks/github", content=body, headers=headers)


async def _watch_then_deliver(watched: str, ingesting: str, cookie: str) -> tuple[list, float]:
    """A tab on ``watched`` opens Pipelines and listens; a delivery goes to ``ingesting``.
    Returns the runs the tab was sent, and how long after the delivery's answer."""
    state, live = PipelinesState.get_full_name(), LiveState.get_full_name()
    client = SocketClient(watched, cookie=cookie, pathname="/pipelines")
    try:
        await client.connect()
        loaded = await client.send(f"{state}.load")
        assert loaded.state_vars(state).get("loaded_rx_state_") is True, loaded.messages
        assert loaded.state_vars(state).get("runs_rx_state_") == []
        await client.send(f"{live}.start", quiet=0.5)
        seen = len(client._inbox)
        answer = await _deliver(ingesting)
        assert answer.status_code == 200 and answer.json()["result"] == "stored", answer.text
        delivered = time.monotonic()
        while time.monotonic() - delivered < 15:
            for message in client._inbox[seen:]:
                runs = (message.get("delta") or {}).get(state, {}).get("runs_rx_state_")
                if runs:
                    return runs, time.monotonic() - delivered
            await asyncio.sleep(0.02)
        return [], time.monotonic() - delivered
    finally:
        await client.close()


def test_a_client_of_one_worker_sees_a_delivery_ingested_by_the_other(
    same_settings: Cluster,
) -> None:
    watched, ingesting = same_settings.workers
    with ThreadPoolExecutor(1) as pool:  # sync Playwright may hold this thread's event loop
        runs, after = pool.submit(
            asyncio.run, _watch_then_deliver(watched.url, ingesting.url, _viewer_cookie())
        ).result()
    assert [run["run_id"] for run in runs] == [RUN_ID], "the other worker's delivery never came"
    print(f"delivery on worker B -> runs on worker A's socket after {after * 1000:.0f} ms")


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
