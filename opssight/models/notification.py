"""Notifications: where alerts are sent (contact points), which alerts go where and how they are
grouped (policies), what is muted (silences), each group's sending state, and every delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


def _when(*, nullable: bool = True) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime()))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(default: type) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class ContactPoint(SQLModel, table=True):
    """A Slack incoming webhook, email addresses (sent through the SMTP connection) or a generic
    webhook URL. Webhook URLs carry credentials: they are kept encrypted in ``secret``."""

    __tablename__ = "contact_point"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=20)
    target: str = Field(max_length=2000)
    """Comma-separated email addresses, or the URL's scheme and host for Slack and webhooks."""
    secret: str = Field(default="", sa_column=Column(Text, nullable=False))
    """Fernet ciphertext (``services.secrets``) of ``{"url": ...}`` for Slack and webhooks."""
    enabled: bool = True
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class NotificationPolicy(SQLModel, table=True):
    """Alerts whose labels match every matcher go to the contact point, grouped by the
    ``group_by`` labels. Policies are tried in ``position`` order; the first match wins unless
    it says ``continue_matching``."""

    __tablename__ = "notification_policy"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    position: int = 0
    matchers: list[list[str]] = _json(list)
    """``[name, op, value]`` with op one of ``=``, ``!=``, ``=~``, ``!~`` (anchored regex)."""
    contact_point_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("contact_point.id", ondelete="CASCADE"), nullable=False
        )
    )
    group_by: list[str] = _json(list)
    group_wait_seconds: int = 30
    group_interval_seconds: int = 300
    repeat_interval_seconds: int = 4 * 3600
    continue_matching: bool = False
    enabled: bool = True
    escalate_after_minutes: int | None = None
    """A critical alert still firing and not acknowledged this long after it fired is sent once
    more, to the escalation contact point (None: no escalation)."""
    escalation_contact_point_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("contact_point.id", ondelete="SET NULL")),
    )


class Silence(SQLModel, table=True):
    """Alerts matching every matcher are not notified between ``starts_at`` and ``ends_at``."""

    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    matchers: list[list[str]] = _json(list)
    starts_at: datetime = _when(nullable=False)
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    comment: str = Field(default="", max_length=500)
    created_by: str = Field(default="", max_length=100)


class NotificationGroup(SQLModel, table=True):
    """One policy's group of alerts (by its group labels): when it was first seen, when it was
    last sent and which alerts that notification said were firing."""

    __tablename__ = "notification_group"
    __table_args__ = (UniqueConstraint("policy_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("notification_policy.id", ondelete="CASCADE"), nullable=False
        )
    )
    key: str = Field(max_length=500)
    labels: dict[str, str] = _json(dict)
    first_seen_at: datetime = _when(nullable=False)
    last_sent_at: datetime | None = _when()
    sent_firing: list[str] = _json(list)
    """The alerts (``source:fingerprint``) the last notification said were firing."""


class NotificationDelivery(SQLModel, table=True):
    """One notification to one contact point: its result, attempts and the next retry."""

    __tablename__ = "notification_delivery"
    __table_args__ = (Index("ix_notification_delivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_point_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("contact_point.id", ondelete="SET NULL")),
    )
    policy: str = Field(max_length=100)
    group_key: str = Field(max_length=500)
    kind: str = Field(
        default="policy", max_length=20, sa_column_kwargs={"server_default": "policy"}
    )
    """policy (the policy's contact point), escalation (its escalation contact point) or
    personal (a copy to a person's own address, ``recipient``, by their preferences)."""
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    recipient: str | None = Field(default=None, max_length=320)
    status: str = Field(default="pending", max_length=20)
    """pending (to send or retry), sent, or failed (gave up)."""
    firing: int = 0
    resolved: int = 0
    payload: dict[str, Any] = _json(dict)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _when(nullable=False)
    next_attempt_at: datetime = _when(nullable=False)
    sent_at: datetime | None = _when()


class NotificationEscalation(SQLModel, table=True):
    """An alert's firing episode that a policy escalated (at most once per episode)."""

    __tablename__ = "notification_escalation"
    __table_args__ = (UniqueConstraint("policy_id", "alert_id", "firing_at"),)

    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("notification_policy.id", ondelete="CASCADE"), nullable=False
        )
    )
    alert_id: int = Field(
        sa_column=Column(Integer, ForeignKey("alert.id", ondelete="CASCADE"), nullable=False)
    )
    firing_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    escalated_at: datetime = _when(nullable=False)


class NotificationPreference(SQLModel, table=True):
    """What one person wants sent to their own address: opted in or not, from which severity,
    which teams' alerts (none: all), and quiet hours in their time zone."""

    __tablename__ = "notification_preference"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    enabled: bool = False
    email: str = Field(default="", max_length=320)
    """Where to send; empty: the person's own email address."""
    min_severity: str = Field(default="warning", max_length=20)
    teams: list[str] = _json(list)
    quiet_start: str | None = Field(default=None, max_length=5)
    """``HH:MM`` local time; quiet hours run from start to end (across midnight if end < start)."""
    quiet_end: str | None = Field(default=None, max_length=5)
    timezone: str = Field(default="UTC", max_length=64)
    critical_in_quiet: bool = True
    """Critical alerts still reach the person during quiet hours."""
    updated_at: datetime = _when(nullable=False)
