"""Database engine, session scope and migrations (SQLModel on PostgreSQL/psycopg 3 or SQLite)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, event, text
from sqlmodel import Session, create_engine

from alembic import command
from opssight.config import get_settings

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
