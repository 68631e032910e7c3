"""GitHub webhook ingest: durable deliveries/s next to verify-and-parse only, in one run.

Starts one granian worker on 127.0.0.1 serving ``opssight.api.create_api()`` plus bench routes on
the same app and middleware: ``/bench/noop`` (reads the body, answers: the HTTP ceiling of this
stack here) and ``/bench/verify-parse`` (the webhook route's own checks and parsing, i.e.
``api.webhooks.receive``, then 200 without touching the database). A fresh PostgreSQL database
``opssight_bench_webhooks`` is created, migrated and dropped by this script. The rate limiter
runs on the webhook route with a limit never reached (``--rate-limit 0``: off).

At each level, N concurrent senders (one keep-alive connection each) post a bounded number of
signed deliveries of the recorded ~20 KB ``workflow_run`` payloads, each with its own delivery id
and run id, to the three routes in interleaved rounds (so a drifting background load hits every
route alike); ``/api/webhooks/github`` verifies, parses, group-commits and answers 200 only after
the commit. It prints deliveries/s, p50/p99, the durable/verify+parse ratio, the CPU each party
spent per delivery (and what the rest of the machine used meanwhile), the average batch per
commit, and checks the database holds exactly the acknowledged deliveries and one run each.

The client writes each request as prepared bytes on its keep-alive socket and reads the answer by
its Content-Length, as wrk does (~60 µs of client CPU per delivery here): on a 2-core machine the
client shares the cores with the server and PostgreSQL, so a costly client lowers every figure.
``--client aiohttp`` (~200 µs per delivery) and ``--client httpx`` (~1 ms, capping at ~900/s)
show the difference.

    .venv/bin/python bench/webhook_ingest.py [--requests 4000] [--levels 2,8,32] [--rounds 3]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--lanes N] [--client raw|aiohttp|httpx]
        [--rate-limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import make_url
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support, for the client side
WEBHOOKS = ROOT / "tests" / "fixtures" / "github" / "webhooks"
DATABASE = "opssight_bench_webhooks"
SECRET = "bench-webhook-secret-0123456789abcdef"
SENTINEL = 987_654_321_987_654  # stands for the run id in a payload template
DURABLE, PARSE, NOOP = "/api/webhooks/github", "/bench/verify-parse", "/bench/noop"
UNREFUSED = 10**9  # the rate limiter runs on every delivery, and never refuses one


# ---------- the server side (imported by granian: ``webhook_ingest:bench_app``) ----------


def bench_app():
    """The real API plus the bench routes, on the same app and middleware."""
    from opssight import gc_tuning
    from opssight.api import create_api
    from opssight.api.webhooks import receive
    from opssight.services import ingest_writer

    lanes = os.environ.get("BENCH_WRITER_LANES")
    if lanes:  # an experiment: batches in flight at once
        ingest_writer.LANES = int(lanes)
    api = create_api()

    async def verify_parse(request: Request) -> JSONResponse:
        received = await receive(request)
        if isinstance(received, JSONResponse):
            return received
        return JSONResponse({"result": "parsed", "detail": received.event})

    async def noop(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"result": "noop"})

    async def stats() -> JSONResponse:
        writer = ingest_writer.get_writer()
        names = ("batches", "committed", "busy_seconds")
        stats = {name: getattr(writer, name, 0) for name in names}
        return JSONResponse({**stats, "loop": type(asyncio.get_running_loop()).__module__})

    # mounted as the webhook route is (plain routes, matched first): the three routes differ
    # only in what they do
    api.router.routes[:0] = [
        Route(PARSE, verify_parse, methods=["POST"]),
        Route(NOOP, noop, methods=["POST"]),
    ]
    api.add_api_route("/bench/stats", stats, methods=["GET"])
    gc_tuning.tune()  # as the app's lifespan does once the app is built
    return api


# ---------- the client side ----------


def templates() -> list[bytes]:
    """The recorded workflow_run payloads, their run id replaced by a sentinel."""
    found = []
    for path in sorted(WEBHOOKS.glob("*workflow_run*.json")):
        data = json.loads(path.read_text())
        body = data["payload"] if set(data) == {"event", "payload"} else data
        body["workflow_run"]["id"] = SENTINEL
        text = json.dumps(body).encode()
        assert text.count(str(SENTINEL).encode()) == 1, path.name
        found.append(text)
    return found


def requests_for(bodies: list[bytes], first_run: int, count: int, tag: str) -> list[tuple]:
    """(delivery id, body, signature) for ``count`` deliveries about runs first_run, ..."""
    from opssight.services.webhooks import sign

    made = []
    for i in range(count):
        body = bodies[i % len(bodies)].replace(str(SENTINEL).encode(), str(first_run + i).encode())
        made.append((f"{tag}-{i}", body, sign(SECRET, body)))
    return made


async def drive(
    base: str, path: str, senders: int, requests: list[tuple], client: str = "raw"
) -> Run:
    """Send every request from ``senders`` concurrent senders (one keep-alive connection each)."""
    latencies: list[float] = []
    errors: list[str] = []
    acknowledged: list[str] = []
    pending = iter(requests)
    expected = {PARSE: "parsed", DURABLE: "stored", NOOP: "noop"}[path]

    def headers(delivery_id: str, signature: str) -> dict[str, str]:
        return {
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        }

    def check(status: int, text: str) -> bool:
        if status != 200 or json.loads(text)["result"] != expected:
            errors.append(f"{status} {text[:80]}")
            return False
        return True

    if client == "raw":  # prepared request bytes, answers read by Content-Length (as wrk)
        url = httpx.URL(base)
        pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(senders):
            pool.put_nowait(await asyncio.open_connection(url.host, url.port))
        prefix = (
            f"POST {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: workflow_run\r\n"
        )

        async def post(delivery_id: str, body: bytes, signature: str) -> bool:
            reader, writer = await pool.get()
            try:
                writer.write(
                    f"{prefix}X-GitHub-Delivery: {delivery_id}\r\nX-Hub-Signature-256: "
                    f"{signature}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                return check(int(head[9:12]), (await reader.readexactly(length)).decode())
            finally:
                pool.put_nowait((reader, writer))

        async def close() -> None:
            while not pool.empty():
                pool.get_nowait()[1].close()

    elif client == "aiohttp":
        connector = aiohttp.TCPConnector(limit=senders)
        session = aiohttp.ClientSession(base, connector=connector)

        async def post(delivery_id: str, body: bytes, signature: str) -> bool:
            async with session.post(path, data=body, headers=headers(delivery_id, signature)) as r:
                return check(r.status, await r.text())

        close = session.close

    else:
        limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
        session = httpx.AsyncClient(base_url=base, limits=limits, timeout=30)

        async def post(delivery_id: str, body: bytes, signature: str) -> bool:
            r = await session.post(path, content=body, headers=headers(delivery_id, signature))
            return check(r.status_code, r.text)

        close = session.aclose

    async def sender() -> None:
        for delivery_id, body, signature in pending:
            started = time.perf_counter()
            if await post(delivery_id, body, signature):
                acknowledged.append(delivery_id)
            latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - started
    finally:
        await close()
    return Run(elapsed, latencies, acknowledged, errors)


@dataclass
class Run:
    elapsed: float
    latencies: list[float]
    acknowledged: list[str]
    errors: list[str]

    def __add__(self, other: Run) -> Run:
        return Run(
            self.elapsed + other.elapsed,
            self.latencies + other.latencies,
            self.acknowledged + other.acknowledged,
            self.errors + other.errors,
        )

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, int(len(ordered) * fraction) - 1)] * 1000


def cpu_seconds(server: subprocess.Popen) -> dict[str, float]:
    """CPU time so far of the server (granian and its worker), the PostgreSQL backends of the
    bench database, this client, and everything else on the machine (other load skews a run)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"server": 0.0, "postgres": 0.0}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(fields[2]) == server.pid:  # process group id: granian and its worker
            used["server"] += seconds
        elif cmdline.startswith(b"postgres: ") and f" {DATABASE} ".encode() in cmdline:
            used["postgres"] += seconds
    client = os.times()
    used["client"] = client.user + client.system
    busy = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    total = (sum(busy) - busy[3] - busy[4]) / tick  # all but idle and iowait
    used["other"] = total - used["server"] - used["postgres"] - used["client"]
    return used


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    port: int, database_url: str, lanes: int | None = None, rate_limit: int = UNREFUSED
) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")},
        "OPSSIGHT_DATABASE_URL": database_url,
        "OPSSIGHT_GITHUB_WEBHOOK_SECRET": SECRET,
        "OPSSIGHT_DEMO": "false",
        "OPSSIGHT_RATE_LIMIT_WEBHOOKS_PER_MINUTE": str(rate_limit),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
    }
    if lanes:
        env["BENCH_WRITER_LANES"] = str(lanes)
    granian = Path(sys.executable).with_name("granian")
    command = [
        str(granian), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-ws", "--log-level", "warning", "--factory",
        "webhook_ingest:bench_app",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    from tests.support import wait_until_serving  # here: the server imports this module too

    try:
        wait_until_serving(f"http://127.0.0.1:{port}", server, timeout=30, path="/health")
    except RuntimeError:
        stop_server(server)
        raise
    return server


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # granian and its worker, started by us
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def stored(conninfo: str) -> tuple[set[str], int, int]:
    """The delivery ids stored, the runs stored and the distinct run ids among them."""
    with psycopg.connect(conninfo) as connection:
        ids = {row[0] for row in connection.execute("SELECT id FROM webhook_delivery")}
        runs, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT run_id) FROM workflow_run"
        ).fetchone()
    return ids, runs, distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="per route and level")
    parser.add_argument("--levels", default="2,8,32")
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp", "httpx"),
        default="raw",
        help="raw: prepared bytes on keep-alive sockets (as wrk); aiohttp spends ~200 µs of "
        "client CPU per delivery here, httpx ~1 ms (it caps at ~900/s)",
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("OPSSIGHT_BENCH_DATABASE_URL")
        or os.environ.get("OPSSIGHT_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per level")
    parser.add_argument("--lanes", type=int, help="writer connections (default: the app's)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=UNREFUSED,
        help="deliveries per minute and address (default: a limit never reached, so the limiter "
        "costs what it does without refusing; 0 turns it off)",
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    from opssight import db

    admin = make_url(args.pg).set(drivername="postgresql")
    admin_conninfo = admin.render_as_string(hide_password=False)
    bench_conninfo = admin.set(database=DATABASE).render_as_string(hide_password=False)
    database_url = admin.set(drivername="postgresql+psycopg", database=DATABASE)
    database_url = database_url.render_as_string(hide_password=False)
    with psycopg.connect(admin_conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    server = None
    try:
        db.run_migrations(database_url)
        db.get_engine(database_url).dispose()
        port = free_port()
        server = start_server(port, database_url, args.lanes, args.rate_limit)
        base = f"http://127.0.0.1:{port}"
        bodies = templates()
        sizes = sorted(len(b) for b in bodies)
        loop = httpx.get(f"{base}/bench/stats").json()["loop"]
        print(
            f"one granian worker ({loop} event loop), {os.cpu_count()} cores shared with "
            f"PostgreSQL and this {args.client} client; "
            f"{len(bodies)} recorded workflow_run payloads of {sizes[0] / 1024:.1f}-"
            f"{sizes[-1] / 1024:.1f} KB; {args.requests // args.rounds * args.rounds} deliveries"
            f" per route and level in {args.rounds} interleaved rounds"
        )
        next_run = 1_000_000_000
        warm = requests_for(bodies, next_run, 300, "warm")
        next_run += 300
        asyncio.run(drive(base, PARSE, 8, warm, args.client))
        acknowledged = asyncio.run(drive(base, DURABLE, 8, warm, args.client)).acknowledged
        before = httpx.get(f"{base}/bench/stats").json()

        print(
            f"{'senders':>7} {'route':<16} {'deliveries/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'errors':>6}   CPU µs per delivery: server postgres client (other load)"
        )
        summary = []
        routes = (("noop", NOOP), ("verify+parse", PARSE), ("durable", DURABLE))
        for senders in levels:
            runs = {name: Run(0.0, [], [], []) for name, _ in routes}
            used = {name: dict.fromkeys(("server", "postgres", "client", "other"), 0.0)
                    for name, _ in routes}  # fmt: skip
            for turn in range(args.rounds):  # interleaved: drifting load hits every route alike
                for name, path in routes:
                    count = args.requests // args.rounds
                    batch = requests_for(bodies, next_run, count, f"{name}-{senders}-{turn}")
                    next_run += count
                    cpu_before = cpu_seconds(server)
                    runs[name] += asyncio.run(drive(base, path, senders, batch, args.client))
                    for key, value in cpu_seconds(server).items():
                        used[name][key] += value - cpu_before[key]
            acknowledged += runs["durable"].acknowledged
            for name, _ in routes:
                run, cpu = runs[name], {k: v / len(runs[name].latencies) * 1e6
                                        for k, v in used[name].items()}  # fmt: skip
                print(
                    f"{senders:>7} {name:<16} {run.rate:>12,.0f} {run.percentile(0.5):>8.2f} "
                    f"{run.percentile(0.99):>8.2f} {len(run.errors):>6}   "
                    f"{cpu['server']:>26.0f} {cpu['postgres']:>8.0f} {cpu['client']:>6.0f}"
                    f" ({cpu['other']:.0f})"
                    + (f"  first error: {run.errors[0]}" if run.errors else "")
                )
            ratio = runs["durable"].rate / runs["verify+parse"].rate
            print(f"{senders:>7} {'durable/parse':<16} {ratio:>12.2f}x")
            summary.append((senders, runs["durable"], ratio))
        after = httpx.get(f"{base}/bench/stats").json()
        batches = after["batches"] - before["batches"]
        committed = after["committed"] - before["committed"]
        busy = after["busy_seconds"] - before["busy_seconds"]
        print(
            f"group commit: {committed} durable deliveries in {batches} transactions "
            f"(~{committed / max(batches, 1):.1f} per commit, "
            f"{busy / max(batches, 1) * 1000:.2f} ms each)"
        )
        ids, run_rows, distinct_runs = stored(bench_conninfo)
        lost = set(acknowledged) - ids
        unacknowledged = ids - set(acknowledged)
        ok = not lost and not unacknowledged and run_rows == distinct_runs == len(acknowledged)
        print(
            f"stored: {len(ids)} deliveries and {run_rows} runs ({distinct_runs} distinct) for "
            f"{len(acknowledged)} acknowledged durable deliveries: lost {len(lost)}, "
            f"stored unacknowledged {len(unacknowledged)}, {'OK' if ok else 'MISMATCH'}"
        )
        for senders, durable, ratio in summary:
            goals = [
                f"{durable.rate:,.0f}/s {'≥' if durable.rate >= 2500 else '<'} 2,500/s",
                f"{ratio:.2f} {'≥' if ratio >= 0.5 else '<'} 0.5 of verify+parse",
            ]
            if senders == 8:
                p99 = durable.percentile(0.99)
                goals.append(f"p99 {p99:.1f} ms {'≤' if p99 <= 25 else '>'} 25 ms")
            print(f"goals at {senders:>2} senders: {'; '.join(goals)}")
        if not ok:
            sys.exit(1)
    finally:
        if server is not None:
            stop_server(server)
        with psycopg.connect(admin_conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
