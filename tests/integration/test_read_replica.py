"""``OPSSIGHT_DATABASE_READ_URL``: the pages' read-only queries go to the read replica, writes to
the primary (PostgreSQL: a second database stands for the replica, so what each view read is
visible: a row that exists only there)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import make_url
from sqlmodel import select

from opssight import db
from opssight.models import Alert, Repository, Team, User, WorkflowRun
from opssight.models.base import utcnow
from opssight.services import teams
from opssight.services.pipeline_queries import RunFilter
from opssight.state.pipelines import Params, _fetch
from tests.support import free_port, reset_caches

pytestmark = pytest.mark.postgres


@pytest.fixture
def replica(postgres_server: str, migrated_postgres: str) -> Iterator[str]:
    """A second migrated database on the same server, dropped at the end."""
    name = f"opssight_replica_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_server).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        db.run_migrations(url)
        yield url
    finally:  # dropped even when the migration failed
        db.get_engine(url).dispose()
        db.get_engine.cache_clear()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_run(url: str, repo: str) -> None:
    now = datetime.now(UTC)
    with db.session_scope(url) as session:
        session.add(Repository(id=1, full_name=repo))
        session.flush()
        session.add(WorkflowRun(run_id=1, attempt=1, repo_id=1, workflow_name="CI",
                                run_number=1, title="t", event="push", status="completed",
                                conclusion="success", head_branch="main", head_sha="a" * 40,
                                created_at=now, run_started_at=now, updated_at=now,
                                completed_at=now))  # fmt: skip


def shown_repos() -> list[str]:
    return [row.repo for row in _fetch(Params(RunFilter(), 30, None)).page.rows]


@pytest.fixture
def primary(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(db, "_replica_down_until", 0.0)  # no earlier test's replica failure
    return database_url


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_views_read_the_replica_and_writes_go_to_the_primary(
    primary: str, replica: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_run(primary, "acme/on-primary")
    add_run(replica, "acme/on-replica")
    assert shown_repos() == ["acme/on-primary"], "unset: the primary"

    monkeypatch.setenv("OPSSIGHT_DATABASE_READ_URL", replica)
    reset_caches()
    assert shown_repos() == ["acme/on-replica"]
    with db.session_scope() as session:
        admin = User(login="root", role="admin")
        session.add(admin)
        session.flush()
        teams.create_team(session, actor=admin, slug="payments", name="Payments")
    with db.session_scope(primary) as session:
        assert session.exec(select(Team.slug)).all() == ["payments"]
    with db.session_scope(replica) as session:
        assert session.exec(select(Team.slug)).all() == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_unreachable_replica_is_read_around(
    primary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_run(primary, "acme/on-primary")
    down = make_url(primary).set(host="127.0.0.1", port=free_port())
    monkeypatch.setenv("OPSSIGHT_DATABASE_READ_URL", down.render_as_string(hide_password=False))
    reset_caches()
    assert shown_repos() == ["acme/on-primary"]


def test_rows_read_stay_usable_after_the_read_session(session):
    """Views hand ORM rows to the state after the read session closed (the Alerts page does)."""
    session.add(Alert(source="opssight", fingerprint="f-read", name="ReadMe", updated_at=utcnow()))
    session.commit()
    with db.read_session_scope() as reader:
        [alert] = reader.exec(select(Alert).where(Alert.name == "ReadMe")).all()
    assert (alert.name, alert.source) == ("ReadMe", "opssight")
