"""Live updates with many clients: event -> client latency with 1 and with 50 websocket clients,
and the backend's memory idle and with 100 clients, in one run.

Serves the app's backend as ``opssight run`` does when scaled out: granian with ``--workers``
(2) behind one port, Redis for the event bus and Reflex's state (a private redis-server), on a
scratch PostgreSQL database ``opssight_bench_live`` (created, migrated, dropped). The frontend is
not built: each client is a websocket client speaking the frontend's protocol
(``tests/socket_client.py``), signed in as a viewer, on the Pipelines page with its live
listener running, as a browser tab is.

- **latency**: signed ``workflow_run`` deliveries (the recorded payload, a new run id each) are
  posted to ``/api/webhooks/github`` one at a time; for each, the time from the webhook's 200
  (sent after the commit; the event is published right after) until each client has been sent
  the Pipelines rows holding the new run. A browser renders that delta in the next frame; the
  socket-level time is what the server controls. p50/p95 over every (delivery, client) with one
  client, then with ``--clients`` (50), and the ratio.
- **memory**: the server processes' PSS (``/proc/<pid>/smaps_rollup``: shared pages counted
  once) and RSS, and Redis's ``used_memory``, idle (no client), then with ``--rss-clients``
  (100) connected and listening, then after they left; per client and the ratio.

    .venv/bin/python bench/live_clients.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
        [--workers 2] [--clients 50] [--rss-clients 100] [--deliveries 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import redis
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opssight import db  # noqa: E402
from opssight.config import get_settings  # noqa: E402
from opssight.models import User  # noqa: E402
from opssight.services.auth import sessions  # noqa: E402
from opssight.services.webhooks import sign  # noqa: E402
from tests.socket_client import NAMESPACE, SocketClient  # noqa: E402
from tests.support import wait_until_serving  # noqa: E402

DATABASE = "opssight_bench_live"
SECRET = "bench-live-webhook-secret-0123456789"
SECRET_KEY = "bench-live-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PAYLOAD = ROOT / "tests" / "fixtures" / "github" / "webhooks"
PAYLOAD = PAYLOAD / "octokit.workflow_run.completed.payload.json"
RECORDED_RUN = 289782451
RUNS = "runs_rx_state_"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Tab(SocketClient):
    """A client that notes when it was sent each run id in the Pipelines rows."""

    def __init__(self, url: str, cookie: str, state: str) -> None:
        super().__init__(url, cookie=cookie, pathname="/pipelines")
        self.state = state
        self.seen: dict[str, float] = {}
        self.sio.on("event", self._note, namespace=NAMESPACE)

    async def _note(self, data: object) -> None:
        arrived = time.perf_counter()
        if isinstance(data, dict):
            runs = ((data.get("delta") or {}).get(self.state) or {}).get(RUNS) or []
            for run in runs:
                self.seen.setdefault(run["run_id"], arrived)
        await self._receive(data)

    async def open(self, live: str) -> None:
        await self.connect(quiet=0.3)
        await self.send(f"{self.state}.load", quiet=0.3)
        await self.send(f"{live}.start", quiet=0.2)


async def open_tabs(url: str, cookie: str, count: int) -> list[Tab]:
    from opssight.state.live import LiveState
    from opssight.state.pipelines import PipelinesState

    state, live = PipelinesState.get_full_name(), LiveState.get_full_name()
    tabs = [Tab(url, cookie, state) for _ in range(count)]
    for start in range(0, count, 10):  # ten at a time, as tabs opening over a moment
        await asyncio.gather(*(tab.open(live) for tab in tabs[start : start + 10]))
    return tabs


async def close_tabs(tabs: list[Tab]) -> None:
    await asyncio.gather(*(tab.close() for tab in tabs))


async def latencies(url: str, tabs: list[Tab], deliveries: int, next_run: int) -> list[float]:
    """Milliseconds from each delivery's 200 to each tab being sent its run."""
    body = PAYLOAD.read_text()
    found: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for run_id in range(next_run, next_run + deliveries):
            data = body.replace(str(RECORDED_RUN), str(run_id)).encode()
            headers = {
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": sign(SECRET, data),
                "Content-Type": "application/json",
            }
            answer = await client.post("/api/webhooks/github", content=data, headers=headers)
            answered = time.perf_counter()
            assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 15
            key = str(run_id)
            while any(key not in t.seen for t in tabs) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            missing = sum(key not in t.seen for t in tabs)
            if missing:
                print(f"  run {run_id}: {missing} of {len(tabs)} tabs not updated within 15 s")
            found += [(t.seen[key] - answered) * 1000 for t in tabs if key in t.seen]
            await asyncio.sleep(0.3)  # one delivery at a time: latency, not throughput
    return found


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def cpu_seconds(server: subprocess.Popen) -> float:
    """CPU time so far of the server's processes (granian and its workers)."""
    tick, used = os.sysconf("SC_CLK_TCK"), 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == server.pid:
            used += int(fields[11]) + int(fields[12])
    return used / tick


def memory(server: subprocess.Popen) -> tuple[float, float]:
    """PSS and RSS (MB) of the server's processes (granian and its workers)."""
    pss = rss = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != server.pid:
                continue
            rollup = (proc / "smaps_rollup").read_text()
        except (OSError, ProcessLookupError):
            continue
        pss += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
        rss += int(re.search(r"^Rss:\s+(\d+)", rollup, re.M).group(1))
    return pss / 1024, rss / 1024


def redis_mb(url: str) -> float:
    return redis.Redis.from_url(url).info("memory")["used_memory"] / 1024 / 1024


def serve(port: int, workers: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--factory", "opssight.opssight:app",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env={**env, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{port}", server, log, timeout=120)
    return server


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # granian and its workers, started here
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def viewer_cookie() -> str:
    with db.session_scope() as session:
        viewer = User(login="bench-viewer", role="viewer")
        session.add(viewer)
        session.commit()
        session.refresh(viewer)
        return f"{sessions.COOKIE_NAME}={sessions.issue(session, user=viewer, method='github')}"


async def measure(url: str, args: argparse.Namespace, server: subprocess.Popen, redis_url: str):
    cookie = viewer_cookie()
    await asyncio.sleep(2)  # the jobs' first passes
    idle = memory(server), redis_mb(redis_url)

    one = await open_tabs(url, cookie, 1)
    await latencies(url, one, 3, 2_000_000_000)  # warm-up
    cpu = cpu_seconds(server)
    single = await latencies(url, one, args.deliveries, 2_100_000_000)
    cpu_single = (cpu_seconds(server) - cpu) / args.deliveries
    await close_tabs(one)
    many = await open_tabs(url, cookie, args.clients)
    cpu = cpu_seconds(server)
    crowd = await latencies(url, many, args.deliveries, 2_200_000_000)
    cpu_crowd = (cpu_seconds(server) - cpu) / args.deliveries
    await close_tabs(many)

    await asyncio.sleep(2)
    before = memory(server), redis_mb(redis_url)
    tabs = await open_tabs(url, cookie, args.rss_clients)
    await latencies(url, tabs, 2, 2_300_000_000)  # every listener has refreshed once
    await asyncio.sleep(2)
    loaded = memory(server), redis_mb(redis_url)
    await close_tabs(tabs)
    await asyncio.sleep(5)
    after = memory(server), redis_mb(redis_url)
    return single, crowd, (cpu_single, cpu_crowd), idle, before, loaded, after


def report(args, single, crowd, cpu, idle, before, loaded, after) -> None:
    p50s, p95s = percentile(single, 0.5), percentile(single, 0.95)
    p50c, p95c = percentile(crowd, 0.5), percentile(crowd, 0.95)
    print(f"\nevent -> client latency (delivery's 200 -> the new run sent to a tab), "
          f"{args.deliveries} deliveries each:")  # fmt: skip
    print(f"  {1:>3} client : p50 {p50s:7.1f} ms  p95 {p95s:7.1f} ms  ({len(single)} samples)")
    print(f"  {args.clients:>3} clients: p50 {p50c:7.1f} ms  p95 {p95c:7.1f} ms  "
          f"({len(crowd)} samples; mean {statistics.mean(crowd):.1f} ms)")  # fmt: skip
    print(f"  ratio {args.clients} clients / 1 client: p50 {p50c / p50s:.1f}x, "
          f"p95 {p95c / p95s:.1f}x")  # fmt: skip
    print(f"  server CPU per delivery: {cpu[0] * 1000:.0f} ms with 1 client, "
          f"{cpu[1] * 1000:.0f} ms with {args.clients} ({cpu[1] / args.clients * 1000:.1f} ms "
          f"per client)")  # fmt: skip
    (pss0, rss0), redis0 = idle
    (pss1, rss1), redis1 = before
    (pss2, rss2), redis2 = loaded
    (pss3, rss3), redis3 = after
    n = args.rss_clients
    print(f"\nbackend memory ({args.workers} workers; PSS counts shared pages once):")
    print(
        f"  idle, at start        : PSS {pss0:7.1f} MB  RSS {rss0:7.1f} MB  Redis {redis0:5.1f} MB"
    )
    print(
        f"  idle, before {n:>3}      : PSS {pss1:7.1f} MB  RSS {rss1:7.1f} MB  Redis {redis1:5.1f} MB"
    )
    print(
        f"  {n:>3} clients listening : PSS {pss2:7.1f} MB  RSS {rss2:7.1f} MB  Redis {redis2:5.1f} MB"
    )
    print(
        f"  after they left       : PSS {pss3:7.1f} MB  RSS {rss3:7.1f} MB  Redis {redis3:5.1f} MB"
    )
    print(f"  per client: {(pss2 - pss1) / n * 1024:.0f} KB of backend PSS, "
          f"{(redis2 - redis1) / n * 1024:.0f} KB of Redis; ratio {n} clients / idle: "
          f"{pss2 / pss1:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pg",
        default=os.environ.get("OPSSIGHT_BENCH_DATABASE_URL")
        or os.environ.get("OPSSIGHT_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rss-clients", type=int, default=100)
    parser.add_argument("--deliveries", type=int, default=20)
    args = parser.parse_args()

    admin = make_url(args.pg).set(drivername="postgresql")
    admin_conninfo = admin.render_as_string(hide_password=False)
    database_url = admin.set(drivername="postgresql+psycopg", database=DATABASE)
    database_url = database_url.render_as_string(hide_password=False)
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        raise SystemExit("redis-server is needed on PATH")
    with psycopg.connect(admin_conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    redis_port, port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_server = subprocess.Popen(
        [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = None
    log = Path(f"/tmp/opssight-bench-live-{os.getpid()}.log")
    data_dir = tempfile.mkdtemp(prefix="opssight-bench-live-")  # the scratch admin's password
    opssight = {
        "OPSSIGHT_DATABASE_URL": database_url,
        "OPSSIGHT_REDIS_URL": redis_url,
        "OPSSIGHT_SECRET_KEY": SECRET_KEY,
        "OPSSIGHT_GITHUB_WEBHOOK_SECRET": SECRET,
        "OPSSIGHT_DEMO": "0",
        "OPSSIGHT_PORT": str(port),
        "OPSSIGHT_LOG_LEVEL": "WARNING",
        "OPSSIGHT_DATA_DIR": data_dir,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")}
    env.update(opssight)
    env.update(
        {  # the backend only: never compile into the shared .web (Reflex reads its
            "__REFLEX_SKIP_COMPILE": "true",  # internal variables with a "__" prefix)
            "REFLEX_ENV_MODE": "prod",
            "REFLEX_USE_NPM": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
        }
    )
    os.environ.update(opssight)
    get_settings.cache_clear()
    try:
        db.run_migrations(database_url)
        server = serve(port, args.workers, env, log)
        print(
            f"{args.workers} granian workers behind one port, Redis bus and state, PostgreSQL; "
            f"{os.cpu_count()} cores shared with PostgreSQL, Redis and this client"
        )
        results = asyncio.run(measure(f"http://127.0.0.1:{port}", args, server, redis_url))
        report(args, *results)
    finally:
        if server is not None:
            stop(server)
        redis_server.terminate()
        redis_server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
        db.get_engine(database_url).dispose()
        with psycopg.connect(admin_conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        print(f"server log: {log}")


if __name__ == "__main__":
    main()
