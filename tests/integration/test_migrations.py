"""Alembic migrations match the models, go down and up cleanly, and are idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

import opssight.models  # noqa: F401  (every table on SQLModel.metadata)
from alembic import command
from opssight import db
from opssight.models import ConnectorStatus
from opssight.models.history import include_name

MODEL_TABLES = set(SQLModel.metadata.tables)


def table_names(url: str) -> set[str]:
    return set(inspect(db.get_engine(url)).get_table_names())


def current_revision(url: str) -> str | None:
    with db.get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(db.alembic_config(url)).get_current_head()


@pytest.fixture
def restore_head(database_url: str) -> Iterator[str]:
    """The PostgreSQL database is shared by the run: always leave it at head."""
    yield database_url
    db.run_migrations(database_url)


def test_every_model_table_exists_at_head(database_url: str) -> None:
    assert {"user", "user_session", "audit_log", "connector_status"} <= MODEL_TABLES
    assert table_names(database_url) >= MODEL_TABLES
    assert current_revision(database_url) == head_revision(database_url)


def test_models_match_the_migrations(database_url: str) -> None:
    with db.get_engine(database_url).connect() as connection:
        opts = {"compare_type": True, "compare_server_default": True, "include_name": include_name}
        context = MigrationContext.configure(connection, opts=opts)
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_indexes_and_unique_constraints_exist(database_url: str) -> None:
    inspector = inspect(db.get_engine(database_url))
    user_indexes = {ix["name"]: ix for ix in inspector.get_indexes("user")}
    assert user_indexes["ix_user_login"]["unique"]
    assert {ix["name"] for ix in inspector.get_indexes("audit_log")} >= {
        "ix_audit_log_at",
        "ix_audit_log_action",
        "ix_audit_log_actor_id",
    }
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys("user_session")] == ["user"]


def test_downgrade_to_base_then_upgrade_again(restore_head: str) -> None:
    url = restore_head
    config = db.alembic_config(url)
    command.downgrade(config, "base")
    assert not (MODEL_TABLES & table_names(url))
    assert current_revision(url) is None

    command.upgrade(config, "head")
    assert table_names(url) >= MODEL_TABLES
    assert current_revision(url) == head_revision(url)
    with db.session_scope(url) as session:
        session.add(ConnectorStatus(name="after-roundtrip", kind="github", state="ok"))
    with db.session_scope(url) as session:
        assert session.get(ConnectorStatus, "after-roundtrip") is not None


def test_running_migrations_twice_is_a_no_op(database_url: str) -> None:
    with db.session_scope(database_url) as session:
        session.add(ConnectorStatus(name="kept", kind="prometheus", state="degraded"))
    before = current_revision(database_url)

    db.run_migrations(database_url)
    db.run_migrations(database_url)

    assert current_revision(database_url) == before == head_revision(database_url)
    with db.session_scope(database_url) as session:
        rows = session.exec(select(ConnectorStatus)).all()
    assert [(r.name, r.state) for r in rows] == [("kept", "degraded")]
    with db.get_engine(database_url).connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert len(versions) == 1


def test_single_linear_history(database_url: str) -> None:
    script = ScriptDirectory.from_config(db.alembic_config(database_url))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
