"""History tables partitioned by month on PostgreSQL, their weekly roll-ups and retention.

Each history table (``HISTORY``) declares ``postgresql_partition_by="RANGE (<column>)"``: on
PostgreSQL it is a declaratively partitioned table with one partition per calendar month (UTC),
``<table>_pYYYYMM``, plus ``<table>_default`` so that no insert ever fails. The partitions job
(``services.history_retention``) creates months ahead, and drops whole months older than the
table's retention after writing their weekly roll-up (the ``*_weekly`` tables, kept). On SQLite
the tables are plain and nothing is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, Table
from sqlmodel import Field, SQLModel

from opssight.models.alert import AlertTransition
from opssight.models.automation import AutomationResult
from opssight.models.base import UTCDateTime, utcnow
from opssight.models.connector import ConnectorCheckEntry
from opssight.models.github import WorkflowJob
from opssight.models.kubernetes import KubeEvent, KubeRestart


def _week() -> Any:
    return Field(sa_column=Column(Date, primary_key=True))


class WorkflowJobWeekly(SQLModel, table=True):
    """Jobs per repository, workflow and week (Monday, UTC); durations of completed jobs."""

    __tablename__ = "workflow_job_weekly"

    week: date = _week()
    repository: str = Field(primary_key=True, max_length=200)
    workflow: str = Field(primary_key=True, max_length=200)
    jobs: int = 0
    failures: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None


class AlertTransitionWeekly(SQLModel, table=True):
    """Alert state changes per rule (alert name), severity and week."""

    __tablename__ = "alert_transition_weekly"

    week: date = _week()
    source: str = Field(primary_key=True, max_length=20)
    rule: str = Field(primary_key=True, max_length=200)
    severity: str = Field(primary_key=True, max_length=20)
    firings: int = 0
    resolutions: int = 0
    acknowledgements: int = 0


class KubeEventWeekly(SQLModel, table=True):
    """Kubernetes Events per cluster, namespace and week."""

    __tablename__ = "kube_event_weekly"

    week: date = _week()
    cluster: str = Field(primary_key=True, max_length=200)
    namespace: str = Field(primary_key=True, max_length=253)
    events: int = 0
    warnings: int = 0
    occurrences: int = 0
    """The Events' counts added up (an Event repeated 5 times counts 5)."""


class KubeRestartWeekly(SQLModel, table=True):
    """Container restarts per cluster, namespace and week."""

    __tablename__ = "kube_restart_weekly"

    week: date = _week()
    cluster: str = Field(primary_key=True, max_length=200)
    namespace: str = Field(primary_key=True, max_length=253)
    restarts: int = 0


class AutomationResultWeekly(SQLModel, table=True):
    """Ansible task results per host and week, by status."""

    __tablename__ = "automation_result_weekly"

    week: date = _week()
    host: str = Field(primary_key=True, max_length=255)
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0


class ConnectorCheckWeekly(SQLModel, table=True):
    """Health checks per connector and week: how many, how many ok, the 95th latency."""

    __tablename__ = "connector_check_weekly"

    week: date = _week()
    name: str = Field(primary_key=True, max_length=100)
    checks: int = 0
    ok: int = 0
    p95_latency_ms: float | None = None


class RetentionSetting(SQLModel, table=True):
    """How many whole months of a history table are kept (set by an admin; audited)."""

    __tablename__ = "retention_setting"

    table_name: str = Field(primary_key=True, max_length=63)
    months: int
    updated_by: str = Field(max_length=100)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


@dataclass(frozen=True)
class History:
    """A partitioned history table and the roll-up table kept after its partitions go."""

    model: type[SQLModel]
    label: str
    rollup: type[SQLModel]

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[attr-defined]

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def column(self) -> str:
        """The partition key, from the table's ``postgresql_partition_by``."""
        spec = self.table.dialect_options["postgresql"]["partition_by"]
        found = re.fullmatch(r"RANGE \((\w+)\)", spec)
        if found is None:
            raise ValueError(f"{self.name}: not partitioned by a range of one column")
        return found.group(1)


HISTORY: tuple[History, ...] = (
    History(WorkflowJob, "Workflow jobs", WorkflowJobWeekly),
    History(AlertTransition, "Alert state changes", AlertTransitionWeekly),
    History(KubeEvent, "Kubernetes events", KubeEventWeekly),
    History(KubeRestart, "Kubernetes restarts", KubeRestartWeekly),
    History(AutomationResult, "Ansible host results", AutomationResultWeekly),
    History(ConnectorCheckEntry, "Connector checks", ConnectorCheckWeekly),
)
DEFAULT_SUFFIX = "_default"
_PARTITION = re.compile(r"(?P<table>\w+?)_(?:p(?P<month>\d{6})|default)")


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y%m}"


def partition_month(name: str) -> tuple[str, date | None] | None:
    """(table, first day of its month) for a monthly partition's name, (table, None) for a
    default partition, None for any other name."""
    found = _PARTITION.fullmatch(name)
    if found is None or found["table"] not in {h.name for h in HISTORY}:
        return None
    month = found["month"]
    return found["table"], (date(int(month[:4]), int(month[4:]), 1) if month else None)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: the partitions are the partitions job's, not the models'."""
    return not (type_ == "table" and name is not None and partition_month(name) is not None)
