"""Retention of the history tables: how many months each keeps (set by an admin, audited), and
the partitions job's daily pass on PostgreSQL.

A pass, for each history table: months whose rows fell into the default partition get their own
partition; the current month and the next ``AHEAD`` exist; every month older than the table's
retention is rolled up by week (``services.rollups``) and its partition dropped, in one
transaction. Retention of N months keeps the current month and the N whole months before it.
On SQLite the tables are plain and a pass does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from opssight.models import RetentionSetting, User
from opssight.models.base import utcnow
from opssight.models.history import HISTORY, History, partition_name
from opssight.services import audit, partitions, rollups
from opssight.services.partitions import Partition, add_months, month_of

log = structlog.get_logger(__name__)
T = TypeVar("T")

AHEAD = 2  # months created ahead of the current one
DEFAULT_MONTHS = 13
MIN_MONTHS, MAX_MONTHS = 1, 120


class RetentionError(ValueError):
    """A retention that cannot be set (unknown table, months out of range)."""


@dataclass(frozen=True)
class TableRetention:
    """A history table as the admin page shows it."""

    history: History
    months: int
    partitions: list[Partition]


@dataclass
class Pass:
    """What one pass of the partitions job did (partition names), and what failed."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rolled_up: int = 0
    failed: list[str] = field(default_factory=list)


def is_partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def retention(session: Session) -> dict[str, int]:
    """Months kept per history table (the default where no admin set one)."""
    stored = dict(session.exec(select(RetentionSetting.table_name, RetentionSetting.months)).all())
    return {h.name: stored.get(h.name, DEFAULT_MONTHS) for h in HISTORY}


def tables(session: Session) -> list[TableRetention]:
    """Each history table with its retention and (PostgreSQL) its partitions."""
    months = retention(session)
    partitioned = is_partitioned(session)
    return [
        TableRetention(h, months[h.name], partitions.partitions(session, h) if partitioned else [])
        for h in HISTORY
    ]


def set_retention(session: Session, *, actor: User, table: str, months: int) -> None:
    """Keep ``months`` whole months of ``table``; audited, committed."""
    if table not in {h.name for h in HISTORY}:
        raise RetentionError(f"{table!r} is not a history table.")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise RetentionError(f"Keep between {MIN_MONTHS} and {MAX_MONTHS} months.")
    row = session.get(RetentionSetting, table)
    before = row.months if row is not None else DEFAULT_MONTHS
    row = row or RetentionSetting(table_name=table, months=months, updated_by=actor.login)
    row.months, row.updated_by, row.updated_at = months, actor.login, utcnow()
    session.add(row)
    audit.record(
        session,
        actor=actor,
        action="retention.set",
        target_type="history_table",
        target_id=table,
        before={"months": before},
        after={"months": months},
    )
    session.commit()


def _step(session: Session, done: Pass, what: str, change: Callable[[], T]) -> T | None:
    """Run one change in its own transaction; a failure (a lock not granted in time) is logged
    and left for the next pass."""
    try:
        result = change()
        session.commit()
        return result
    except DBAPIError as exc:
        session.rollback()
        done.failed.append(what)
        log.warning("partitions.step_failed", step=what, error=str(exc.orig or exc))
        return None


def _expire(session: Session, history: History, partition: Partition) -> int:
    """Roll the month up by week, then drop it; the roll-up rows written."""
    assert partition.month is not None
    rows = rollups.roll_up(session, history, partition.month)
    partitions.drop(session, partition)
    return rows


def _maintain_table(
    session: Session, history: History, months: int, now: datetime, done: Pass
) -> None:
    this = month_of(now)
    wanted = set(partitions.months_in_default(session, history))
    wanted |= {add_months(this, n) for n in range(AHEAD + 1)}
    for month in sorted(wanted):
        name = partition_name(history.name, month)
        if _step(session, done, name, lambda m=month: partitions.create(session, history, m)):
            done.created.append(name)
    cutoff = add_months(this, -months)
    for partition in partitions.partitions(session, history):
        if partition.month is None or add_months(partition.month, 1) > cutoff:
            continue
        rows = _step(
            session, done, partition.name, lambda p=partition: _expire(session, history, p)
        )
        if rows is not None:
            done.rolled_up += rows
            done.dropped.append(partition.name)


def maintain(session: Session, *, now: datetime | None = None) -> Pass:
    """One pass of the partitions job (nothing on SQLite)."""
    done = Pass()
    if not is_partitioned(session):
        return done
    now = now or utcnow()
    months = retention(session)
    session.commit()
    for history in HISTORY:
        _maintain_table(session, history, months[history.name], now, done)
    if done.created or done.dropped or done.failed:
        log.info(
            "partitions.pass",
            created=done.created,
            dropped=done.dropped,
            rolled_up=done.rolled_up,
            failed=done.failed,
        )
    return done
