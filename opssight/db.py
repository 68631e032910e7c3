"""Database engines, session scopes and migrations (SQLModel on PostgreSQL/psycopg 3 or SQLite).

``session_scope`` is the primary (reads and writes). ``read_session_scope`` is for the pages'
read-only queries: on the read replica named by ``OPSSIGHT_DATABASE_READ_URL`` when set, else
the primary. A replica lags its primary, and a page re-reads *because* an event announced a
commit, which a lagging replica may not have yet (nor should a cached view be computed from it):
so a read session on a replica first reads the primary's WAL position (``pg_current_wal_lsn()``,
no table access) and waits until the replica has replayed it, up to ``REPLICA_WAIT_SECONDS``;
if it has not by then, that read goes to the primary (logged). A read URL whose server is not
in recovery (a primary, as in tests) is always current.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import structlog
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from alembic import command
from opssight.config import get_settings

log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """One engine per database URL (the settings' URL by default)."""
    url = url or get_settings().database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args={"connect_timeout": 3}
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


REPLICA_WAIT_SECONDS = 2.0
REPLICA_POLL_SECONDS = 0.01
REPLICA_RETRY_SECONDS = 5.0  # after a failure, reads go to the primary for this long
_replica_down_until = 0.0


def read_url() -> str:
    """Where read-only queries go: the read replica, else the primary."""
    settings = get_settings()
    return settings.database_read_url or settings.database_url


def get_read_engine() -> Engine:
    return get_engine(read_url())


def _caught_up(replica: Session, primary_lsn: str) -> bool:
    """Whether the replica has replayed the primary's WAL up to ``primary_lsn``."""
    return bool(
        replica.execute(
            text(
                "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"
            ),
            {"lsn": primary_lsn},
        ).scalar()
    )


def _current_replica(url: str) -> Session | None:
    """A session on the replica once it has replayed what the primary has committed now; None
    if it has not within ``REPLICA_WAIT_SECONDS`` or cannot be reached."""
    with get_engine().connect() as primary:
        lsn = str(primary.execute(text("SELECT pg_current_wal_lsn()")).scalar())
    session = Session(get_engine(url), expire_on_commit=False)
    deadline = time.monotonic() + REPLICA_WAIT_SECONDS
    try:
        while not _caught_up(session, lsn):
            if time.monotonic() >= deadline:
                log.warning("db.replica_behind", waited=REPLICA_WAIT_SECONDS, primary_lsn=lsn)
                session.close()
                return None
            session.rollback()  # a new snapshot on the next look
            time.sleep(REPLICA_POLL_SECONDS)
    except OperationalError as exc:
        global _replica_down_until
        _replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        log.warning("db.replica_unreachable", error=str(exc.orig or exc).strip().splitlines()[0])
        session.close()
        return None
    except BaseException:
        session.close()
        raise
    return session


@contextmanager
def read_session_scope() -> Iterator[Session]:
    """A session for read-only queries (never committed): on the read replica when one is set and
    current with the primary as of now, else on the primary."""
    url, primary = read_url(), get_settings().database_url
    replica = url != primary and url.startswith("postgresql") and primary.startswith("postgresql")
    session = _current_replica(url) if replica and time.monotonic() >= _replica_down_until else None
    if session is None:
        session = Session(get_engine(primary if replica else url), expire_on_commit=False)
    with session:  # closing ends the transaction uncommitted, and keeps what was loaded
        yield session


def alembic_config(url: str | None = None) -> AlembicConfig:
    config = AlembicConfig(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url or get_settings().database_url
    return config


MIGRATION_LOCK = 0x05510001


def run_migrations(url: str | None = None) -> None:
    """Bring the schema to the newest revision (``alembic upgrade head``).

    On PostgreSQL an advisory lock makes concurrent starts (several workers) take turns.
    """
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(url), "head")
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            command.upgrade(alembic_config(url), "head")
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})


def ping(url: str | None = None) -> float:
    """Round-trip ``SELECT 1``; returns the latency in milliseconds or raises."""
    started = time.perf_counter()
    with get_engine(url).connect() as connection:
        connection.execute(text("SELECT 1"))
    return (time.perf_counter() - started) * 1000
