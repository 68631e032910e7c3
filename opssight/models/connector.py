"""Health of each data source OpsSight reads from, as last checked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
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
