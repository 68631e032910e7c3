"""One leader per job across workers: PostgreSQL advisory locks, checked while the job runs.

Each process holds all its leader locks on ONE connection of its own (outside the engine's pool,
so waiting for or holding a lock never takes a connection from requests). Its session is named
``opssight-leader pid=<pid>`` in ``pg_stat_activity`` (who leads what: ``pg_locks``).

Hand-over when a leader goes away:

- the process dies or is killed: its socket closes, PostgreSQL ends the session and releases the
  locks at once; a waiting worker tries every ``RETRY_SECONDS`` (5 s) and takes over;
- its host or network vanishes (no FIN): the session has TCP keepalives on the server side
  (5 s idle, then 3 probes 5 s apart), so PostgreSQL drops it within ~20 s, and the hand-over
  happens within ~25 s;
- the leader's connection breaks while it lives (database restart, network cut, the session
  terminated): the leader checks every ``CHECK_SECONDS`` that it still holds its lock, and when
  not (or the check fails), it cancels the job and waits for the lock again, so two workers
  never keep running one job. Client-side keepalives bound a check that hangs to ~20 s.

On SQLite there is one worker only: the job runs at once.
"""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TypeVar

import psycopg
import structlog
from sqlalchemy import make_url

from opssight import db

log = structlog.get_logger(__name__)
T = TypeVar("T")

RETRY_SECONDS = 5.0  # a waiting worker tries the lock this often
CHECK_SECONDS = 5.0  # a leader checks this often that it still holds its lock
KEEPALIVE = {"idle": 5, "interval": 5, "count": 3}  # both ends: a dead peer is seen in ~20 s


def lock_key(name: str) -> int:
    """The advisory lock key of a job (``pg_locks.objid``; ``classid`` is 0)."""
    return zlib.crc32(name.encode())


class LockSession:
    """This process's lock-holding PostgreSQL session; reconnects on use after a failure.

    Calls are blocking (run them in a thread) and serialized: one connection, several jobs.
    """

    def __init__(self, url: str) -> None:
        self.conninfo = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._connection: psycopg.Connection | None = None
        self._mutex = threading.Lock()
        self._held: set[int] = set()

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            self._held.clear()  # a new session holds nothing
            self._connection = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=3,
                application_name=f"opssight-leader pid={os.getpid()}",
                keepalives=1,
                keepalives_idle=KEEPALIVE["idle"],
                keepalives_interval=KEEPALIVE["interval"],
                keepalives_count=KEEPALIVE["count"],
            )
            for setting, value in KEEPALIVE.items():  # no-ops on a Unix socket
                self._connection.execute(f"SET tcp_keepalives_{setting} = {int(value)}")
        return self._connection

    def _drop(self, exc: Exception) -> None:
        log.warning("leader.connection_lost", error=str(exc).strip().splitlines()[0])
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._held.clear()

    def try_lock(self, key: int) -> bool:
        """Take the lock if nobody holds it (False, never an error, while the database is away)."""
        with self._mutex:
            if key in self._held:  # advisory locks stack within a session: never twice
                return False
            try:
                cursor = self._connect().execute("SELECT pg_try_advisory_lock(%s)", (key,))
                locked = bool(cursor.fetchone()[0])
            except psycopg.Error as exc:
                self._drop(exc)
                return False
            if locked:
                self._held.add(key)
            return locked

    def holds(self, key: int) -> bool:
        """Whether this session still holds the lock, as PostgreSQL sees it."""
        with self._mutex:
            if key not in self._held or self._connection is None:
                return False
            try:
                cursor = self._connection.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = 0 AND objid = %s::bigint::oid"
                    " AND objsubid = 1",
                    (key,),
                )
                return cursor.fetchone()[0] > 0
            except psycopg.Error as exc:
                self._drop(exc)
                return False

    def unlock(self, key: int) -> None:
        with self._mutex:
            if key not in self._held:
                return
            self._held.discard(key)
            try:
                if self._connection is not None:
                    self._connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error as exc:  # the session is gone, and its locks with it
                self._drop(exc)

    def close(self) -> None:
        with self._mutex:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._held.clear()


@lru_cache(maxsize=8)
def lock_session(url: str) -> LockSession:
    return LockSession(url)


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _finished(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a thread; cancelled meanwhile, it still waits for the thread to end (a
    lock taken by a thread nobody waits for would stay held by a worker that does not lead)."""
    call = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        await asyncio.gather(call, return_exceptions=True)
        raise


async def lead(name: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work()`` while this process leads ``name`` across workers; wait for the lock first.

    Leadership lost (the session dropped) cancels ``work`` and waits for the lock again.
    Returns when ``work`` returns; cancelling this stops ``work`` and releases the lock.
    """
    engine = db.get_engine()
    if engine.dialect.name != "postgresql":
        log.info("job.leading", job=name)
        await work()
        return
    session = lock_session(engine.url.render_as_string(hide_password=False))
    key = lock_key(name)
    try:
        while True:
            while not await _finished(session.try_lock, key):
                await asyncio.sleep(RETRY_SECONDS)
            log.info("job.leading", job=name)
            body = asyncio.create_task(work(), name=f"lead:{name}")
            try:
                while not body.done():
                    await asyncio.wait({body}, timeout=CHECK_SECONDS)
                    if not body.done() and not await _finished(session.holds, key):
                        log.warning("job.leadership_lost", job=name)
                        break
                else:
                    body.result()  # work's own error, if any, goes to the caller
                    return
            finally:
                await _stop(body)
                await _finished(session.unlock, key)
    finally:
        await _finished(session.unlock, key)
