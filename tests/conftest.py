"""Shared fixtures: settings isolation, real SQLite and PostgreSQL databases, real Redis.

Services are used for real. When one is missing, its tests are skipped with a line saying which
service and which variable to set; under CI (``CI=true``) a missing service fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import make_url
from sqlmodel import Session, SQLModel

from opssight import db
from tests.prometheus_server import prometheus, prometheus_server  # noqa: F401  (fixtures)
from tests.replay.github import GitHubReplay
from tests.support import RedisProcess, missing_service, private_redis_server, reset_caches

PG_URL = os.environ.get(
    "OPSSIGHT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OPSSIGHT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests run last: sync Playwright keeps an event loop running in this thread
    until the session ends, which async tests collected after it could not share."""
    items.sort(key=lambda item: item.path.parent.name == "e2e")


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from a clean environment: no OPSSIGHT_* from the shell, no .env file."""
    for name in list(os.environ):
        if name.startswith("OPSSIGHT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPSSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", f"sqlite:///{tmp_path / 'unit.db'}")
    monkeypatch.chdir(tmp_path)
    reset_caches()
    yield
    reset_caches()


# ---------- PostgreSQL ----------


def _pg_admin_conninfo() -> str:
    url = make_url(PG_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server's URL (database ``test``), checked once."""
    try:
        with psycopg.connect(_pg_admin_conninfo(), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        missing_service(
            f"PostgreSQL is needed at {PG_URL} (set OPSSIGHT_TEST_DATABASE_URL): "
            f"{str(exc).strip().splitlines()[0]}"
        )
    return PG_URL


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated once, dropped at the end."""
    name = f"opssight_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    db.run_migrations(url)
    yield url
    db.get_engine(url).dispose()
    db.get_engine.cache_clear()
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(url: str) -> None:
    with db.session_scope(url) as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.exec(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """Each test using it runs twice: on a migrated SQLite file and on real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'opssight.db'}"
        db.run_migrations(url)
    else:
        url = request.getfixturevalue("migrated_postgres")
        _truncate(url)
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", url)
    reset_caches()
    yield url
    if request.param == "sqlite":
        db.get_engine(url).dispose()


@pytest.fixture
def settings_database() -> None:
    """The settings' database migrated, for code that reads it itself (saved connections)."""
    db.run_migrations()


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    with db.session_scope(database_url) as session:
        yield session


# ---------- Redis ----------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis server (database 15 by default), checked once."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        missing_service(f"Redis is needed at {REDIS_URL} (set OPSSIGHT_TEST_REDIS_URL): {exc}")
    return REDIS_URL


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    with private_redis_server("to test Redis outages") as server:
        yield server


@pytest.fixture
def github_replay() -> Iterator[GitHubReplay]:
    """A local server answering like GitHub's REST API, from the recorded payloads."""
    with GitHubReplay() as server:
        yield server
