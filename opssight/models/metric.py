"""Metrics explorer: each person's query history and the saved panels of the Metrics dashboard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class MetricQuery(SQLModel, table=True):
    """One query a person ran in the explorer (newest first is their history)."""

    __tablename__ = "metric_query"
    __table_args__ = (Index("ix_metric_query_user_at", "user_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    source: str = Field(max_length=100)
    promql: str = Field(max_length=4000)
    mode: str = Field(max_length=10)  # instant or range
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class MetricPanel(SQLModel, table=True):
    """A saved query drawn on the Metrics dashboard, in ``position`` order."""

    __tablename__ = "metric_panel"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    promql: str = Field(max_length=4000)
    source: str = Field(max_length=100)
    range_preset: str = Field(default="1h", max_length=10)
    chart_type: str = Field(default="line", max_length=10)  # line or area
    position: int = Field(default=0, index=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
