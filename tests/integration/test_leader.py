"""Job leaders across processes on real PostgreSQL: one leader, a killed one replaced at once,
a lost session stops the job until the lock is taken again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import psycopg
import pytest
from sqlalchemy import make_url

from opssight.jobs import leader
from tests.support import ROOT, reset_caches

pytestmark = pytest.mark.postgres

LEADER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from opssight.jobs.leader import lead

    async def work():
        print("leading", flush=True)
        await asyncio.Event().wait()

    asyncio.run(lead(sys.argv[1], work))
    """
)


@pytest.fixture
def pg(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", postgres_server)
    monkeypatch.setattr(leader, "RETRY_SECONDS", 0.1)
    monkeypatch.setattr(leader, "CHECK_SECONDS", 0.2)
    reset_caches()
    leader.lock_session.cache_clear()
    return make_url(postgres_server).set(drivername="postgresql").render_as_string(False)


def holder(conninfo: str, name: str) -> str | None:
    """The application name of the session holding ``name``'s lock, if any."""
    with psycopg.connect(conninfo) as connection:
        row = connection.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s::bigint::oid",
            (leader.lock_key(name),),
        ).fetchone()
    return row[0] if row else None


class Work:
    """A job body that records its starts and cancellations."""

    def __init__(self) -> None:
        self.starts, self.cancelled = 0, 0
        self.running = asyncio.Event()

    async def __call__(self) -> None:
        self.starts += 1
        self.running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            self.running.clear()
            raise


async def test_a_killed_leader_is_replaced_within_seconds(pg: str) -> None:
    name = f"test-kill-{uuid.uuid4().hex}"
    other = subprocess.Popen(
        [sys.executable, "-c", LEADER_SCRIPT, name],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in other.stdout:  # structlog's own line comes first
            if line.strip() == "leading":
                break
        else:
            pytest.fail(f"the other process exited ({other.wait()}) without leading")
        assert holder(pg, name) == f"opssight-leader pid={other.pid}"
        work = Work()
        follower = asyncio.create_task(leader.lead(name, work))
        await asyncio.sleep(1.0)
        assert work.starts == 0, "a second leader ran while the first held the lock"
        other.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.wait_for(work.running.wait(), 10)
        took_over = time.monotonic() - killed
        assert took_over < 5, f"took {took_over:.1f} s"
        assert holder(pg, name) == f"opssight-leader pid={os.getpid()}"
        await leader._stop(follower)
        assert work.cancelled == 1
        assert holder(pg, name) is None, "a stopped job released its lock"
    finally:
        other.kill()
        other.wait()


async def test_a_lost_session_stops_the_job_until_it_leads_again(pg: str) -> None:
    name = f"test-lost-{uuid.uuid4().hex}"
    work = Work()
    task = asyncio.create_task(leader.lead(name, work))
    try:
        await asyncio.wait_for(work.running.wait(), 5)
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND objid = %s::bigint::oid",
                (leader.lock_key(name),),
            )
        deadline = time.monotonic() + 10
        while work.starts < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert work.cancelled == 1, "the job kept running after its lock was gone"
        assert work.starts == 2, "the job did not lead again once the database was back"
        assert holder(pg, name) == f"opssight-leader pid={os.getpid()}"
    finally:
        await leader._stop(task)
    leader.lock_session.cache_clear()


async def test_the_work_error_reaches_the_caller_and_the_lock_is_released(pg: str) -> None:
    name = f"test-error-{uuid.uuid4().hex}"

    async def fails() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await leader.lead(name, fails)
    assert holder(pg, name) is None


async def test_sqlite_runs_the_job_at_once() -> None:
    work = Work()
    task = asyncio.create_task(leader.lead("anything", work))
    await asyncio.wait_for(work.running.wait(), 2)
    await leader._stop(task)
    assert work.cancelled == 1
