"""Ansible automation, modelled like ARA: a playbook run, its plays, their tasks and each task's
result on each host; per-run host stats, the run's inventory groups, and every host with its
latest result. Ingest tokens for the callback.

Runs, plays and tasks are keyed by uuids the callback generates, and a result by (task, host),
so a spooled batch delivered again writes the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), index=index))
    return Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index)
    )


def _parent(table: str, *, primary_key: bool = False) -> Any:
    column = Column(
        String(36),
        ForeignKey(f"{table}.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
        index=not primary_key,
    )
    return Field(sa_column=column)


class AutomationRun(SQLModel, table=True):
    """One ``ansible-playbook`` run: who ran which playbook where, and how it ended."""

    __tablename__ = "automation_run"

    id: str = Field(primary_key=True, max_length=36)
    playbook: str = Field(max_length=1000)
    """The playbook's path as given on the command line."""
    name: str = Field(default="", max_length=300)
    """The first play's name (the file name when it has none)."""
    user: str = Field(default="", max_length=200)
    controller: str = Field(default="", max_length=200)
    ansible_version: str = Field(default="", max_length=50)
    check_mode: bool = False
    status: str = Field(default="running", max_length=20)
    """``running``, then ``ok`` or ``failed`` (a host failed or was unreachable)."""
    started_at: datetime = _when(nullable=False, index=True)
    ended_at: datetime | None = _when()
    duration_s: float | None = None
    extra_vars: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """As passed with ``-e``, secrets redacted by the callback."""
    arguments: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """Inventory, limit, tags and skip-tags of the command line."""
    is_demo: bool = False
    updated_at: datetime = _when(nullable=False)


class AutomationPlay(SQLModel, table=True):
    __tablename__ = "automation_play"

    id: str = Field(primary_key=True, max_length=36)
    run_id: str = _parent("automation_run")
    name: str = Field(default="", max_length=300)
    pattern: str = Field(default="", max_length=500)
    """The play's ``hosts:`` pattern."""
    position: int = 0
    started_at: datetime = _when(nullable=False)


class AutomationTask(SQLModel, table=True):
    __tablename__ = "automation_task"

    id: str = Field(primary_key=True, max_length=36)
    run_id: str = _parent("automation_run")
    play_id: str = _parent("automation_play")
    name: str = Field(default="", max_length=500)
    action: str = Field(default="", max_length=200)
    """The module (``ansible.builtin.command``, ...)."""
    path: str = Field(default="", max_length=1000)
    """Where the task is written (``file:line``)."""
    position: int = 0
    handler: bool = False
    status: str = Field(default="running", max_length=20)
    """The worst of its host results (failed, unreachable, changed, ok, skipped)."""
    started_at: datetime = _when(nullable=False)
    ended_at: datetime | None = _when()


class AutomationResult(SQLModel, table=True):
    """One task's result on one host (a loop's items together, as Ansible reports them).
    On PostgreSQL the table is partitioned by month on ``ended_at`` (``models.history``); the
    callback sends a result's end time with it, so a batch sent again finds its rows."""

    __tablename__ = "automation_result"
    __table_args__ = {"postgresql_partition_by": "RANGE (ended_at)"}

    task_id: str = _parent("automation_task", primary_key=True)
    host: str = Field(primary_key=True, max_length=255)
    run_id: str = _parent("automation_run")
    status: str = Field(max_length=20)
    """ok, changed, failed, skipped or unreachable."""
    changed: bool = False
    ignore_errors: bool = False
    message: str = Field(default="", max_length=2000)
    """The module's message (``msg``, else its stderr or stdout)."""
    delegated_to: str | None = Field(default=None, max_length=255)
    items: int = 0
    started_at: datetime | None = _when()
    ended_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))


class AutomationRunHost(SQLModel, table=True):
    """A host's counts in one run (Ansible's recap) and its inventory groups."""

    __tablename__ = "automation_run_host"

    run_id: str = _parent("automation_run", primary_key=True)
    host: str = Field(primary_key=True, max_length=255)
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    rescued: int = 0
    ignored: int = 0
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class AutomationRunGroup(SQLModel, table=True):
    """An inventory group a run touched (the timeline maps services to groups)."""

    __tablename__ = "automation_run_group"
    __table_args__ = (Index("ix_automation_run_group_group", "group"),)

    run_id: str = _parent("automation_run", primary_key=True)
    group: str = Field(primary_key=True, max_length=255)


class AutomationHost(SQLModel, table=True):
    """Every host Ansible reported on, with its latest run's result."""

    __tablename__ = "automation_host"

    name: str = Field(primary_key=True, max_length=255)
    last_run_id: str = Field(max_length=36)
    last_status: str = Field(max_length=20)
    last_seen_at: datetime = _when(nullable=False, index=True)
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class AutomationToken(SQLModel, table=True):
    """A bearer token the Ansible callback sends; only its SHA-256 is kept."""

    __tablename__ = "automation_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = _when(nullable=False)
    revoked_at: datetime | None = _when()
    last_used_at: datetime | None = _when()
