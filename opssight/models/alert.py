"""Alerting: rules, alert instances and every state change they went through (kept forever).

An ``Alert`` is one instance per (source, fingerprint): an OpsSight rule's label set, a rule
of Prometheus's own, or an Alertmanager alert (Alertmanager's fingerprint). ``AlertTransition``
keeps each state change; Alertmanager itself keeps no history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


def _when(*, nullable: bool = True) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime()))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AlertRule(SQLModel, table=True):
    """An alerting rule: defined in OpsSight (editable, evaluated by the alert job) or read
    from a Prometheus server's ``/api/v1/rules`` (``source`` "prometheus", read-only)."""

    __tablename__ = "alert_rule"
    __table_args__ = (UniqueConstraint("source", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(default="opssight", max_length=20)
    name: str = Field(max_length=200)
    expr: str = Field(max_length=4000)
    for_seconds: int = 0
    severity: str = Field(default="warning", max_length=20)
    labels: dict[str, str] = _json()
    annotations: dict[str, str] = _json()
    enabled: bool = True
    datasource: str = Field(default="", max_length=100)
    """The Prometheus source's name (``Settings.prometheus_sources``); empty: the first one."""
    no_data_state: str = Field(default="Normal", max_length=20)
    """What an empty answer makes of a rule's active instances: "Normal" (the condition stopped
    holding, as in Prometheus) or "NoData" (the data went missing)."""
    health: str = Field(default="unknown", max_length=20)
    last_error: str | None = Field(default=None, max_length=2000)
    last_evaluated_at: datetime | None = _when()
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("source", "fingerprint"),
        Index("ix_alert_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    fingerprint: str = Field(max_length=64)
    rule_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("alert_rule.id", ondelete="SET NULL"), index=True),
    )
    datasource: str = Field(default="", max_length=100)
    """The Prometheus source an OpsSight or Prometheus instance comes from."""
    name: str = Field(max_length=200)
    severity: str = Field(default="", max_length=20)
    labels: dict[str, str] = _json()
    annotations: dict[str, str] = _json()
    state: str = Field(default="Normal", max_length=20)
    value: float | None = None
    error: str | None = Field(default=None, max_length=2000)
    started_at: datetime | None = _when()
    """When the current episode began (Pending, or Firing without a pending phase)."""
    firing_at: datetime | None = _when()
    resolved_at: datetime | None = _when()
    updated_at: datetime = _when(nullable=False)
    acknowledged_by: str | None = Field(default=None, max_length=100)
    acknowledged_at: datetime | None = _when()
    generator_url: str | None = Field(default=None, max_length=2000)


class AlertTransition(SQLModel, table=True):
    """One state change (or acknowledgement). On PostgreSQL the table is partitioned by month on
    ``at`` (``models.history``) and its key is (id, at); on SQLite it stays keyed by ``id``."""

    __tablename__ = "alert_transition"
    __table_args__ = (
        Index("ix_alert_transition_alert_at", "alert_id", "at"),
        Index("ix_alert_transition_at", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    alert_id: int = Field(sa_column=Column(Integer, ForeignKey("alert.id"), nullable=False))
    from_state: str | None = Field(default=None, max_length=20)
    to_state: str = Field(max_length=20)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), primary_key=True))
    value: float | None = None
    error: str | None = Field(default=None, max_length=2000)
    actor: str | None = Field(default=None, max_length=100)
    """Who acknowledged: a row with an actor records an acknowledgement, not a state change."""
