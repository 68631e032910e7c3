"""Health of each data source OpsSight reads from: as last checked, and every check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Integer
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class ConnectorStatus(SQLModel, table=True):
    __tablename__ = "connector_status"

    name: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=50)
    state: str = Field(default="unknown", max_length=20)
    is_demo: bool = False
    detail: str | None = Field(default=None, max_length=500)
    latency_ms: float | None = None
    facts: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=True))
    last_error: str | None = Field(default=None, max_length=2000)
    checked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_success_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_error_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ConnectorCheckEntry(SQLModel, table=True):
    """One health check of a connector (the history behind ``connector_status``). On
    PostgreSQL the table is partitioned by month on ``at`` (``models.history``) and its key is
    (id, at); on SQLite it is keyed by ``id``."""

    __tablename__ = "connector_check"
    __table_args__ = (
        Index("ix_connector_check_name_at", "name", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    name: str = Field(max_length=100)
    state: str = Field(max_length=20)
    latency_ms: float | None = None
    error: str | None = Field(default=None, max_length=2000)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), primary_key=True))
