"""Monthly partitions of the history tables on PostgreSQL (``models.history``): list them, add a
month (taking its rows out of the default partition), drop a month.

Each change is one short transaction with a lock timeout, so a busy table makes the change fail
(and the next pass try again) instead of queueing ingest behind it. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlmodel import Session

from opssight.models.history import DEFAULT_SUFFIX, History, partition_month, partition_name

LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class Partition:
    name: str
    month: date | None
    """The first day of its month; None for the default partition."""
    rows: int | None
    """An estimate: the planner's (``pg_class.reltuples``), else until the partition is first
    analysed the statistics collector's live rows; None when neither has counted yet."""


def month_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def bound(month: date) -> datetime:
    """A month's first instant (UTC): a partition holds [bound(month), bound(next month))."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lock_timeout(session: Session) -> None:
    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


def partitions(session: Session, history: History) -> list[Partition]:
    """The table's partitions, oldest month first, the default partition last."""
    found = session.execute(
        text(
            "SELECT c.relname, COALESCE(NULLIF(c.reltuples, -1), s.n_live_tup)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
            " WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": history.name},
    ).all()
    listed = []
    for name, rows in found:
        parsed = partition_month(name)
        if parsed is not None and parsed[0] == history.name:
            listed.append(Partition(name, parsed[1], None if rows is None else int(rows)))
    return sorted(listed, key=lambda p: (p.month is None, p.month or date.min))


def create(session: Session, history: History, month: date) -> bool:
    """Add the month's partition, moving its rows out of the default partition; False when it
    exists already."""
    name = partition_name(history.name, month)
    exists = session.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar()
    if exists is not None:
        return False
    table, column = _ident(history.name), _ident(history.column)
    default = _ident(history.name + DEFAULT_SUFFIX)
    window = {"lo": bound(month), "hi": bound(add_months(month, 1))}
    _lock_timeout(session)
    # no row for this month may reach the default partition until the new one is attached
    session.execute(text(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE"))
    session.execute(text(f"CREATE TABLE {_ident(name)} (LIKE {table} INCLUDING DEFAULTS)"))
    session.execute(
        text(
            f"WITH moved AS (DELETE FROM {default}"
            f" WHERE {column} >= :lo AND {column} < :hi RETURNING *)"
            f" INSERT INTO {_ident(name)} SELECT * FROM moved"
        ),
        window,
    )
    lo, hi = (f"'{window[k].isoformat()}'" for k in ("lo", "hi"))
    session.execute(
        text(
            f"ALTER TABLE {table} ATTACH PARTITION {_ident(name)} FOR VALUES FROM ({lo}) TO ({hi})"
        )
    )
    return True


def months_in_default(session: Session, history: History) -> list[date]:
    """The months of the rows that fell into the default partition (no partition of their own
    when they were written)."""
    column = _ident(history.column)
    found = session.execute(
        text(
            f"SELECT DISTINCT CAST(date_trunc('month', {column} AT TIME ZONE 'UTC') AS date)"
            f" FROM {_ident(history.name + DEFAULT_SUFFIX)}"
        )
    )
    return sorted(found.scalars())


def drop(session: Session, partition: Partition) -> None:
    """Drop a whole month (never row by row)."""
    _lock_timeout(session)
    session.execute(text(f"DROP TABLE {_ident(partition.name)}"))
