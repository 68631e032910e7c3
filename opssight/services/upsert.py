"""Idempotent upserts on natural keys, for PostgreSQL and SQLite alike.

Whether a row was written is read from ``RETURNING`` (a driver's rowcount is not reliable for
``ON CONFLICT`` statements).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def _insert(session: Session, model: type[SQLModel]):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model.__table__)


def upsert(
    session: Session,
    model: type[SQLModel],
    values: dict[str, Any],
    *,
    keys: tuple[str, ...],
    unless_newer: str | None = None,
) -> bool:
    """Insert or update the row with these ``keys``; only the given columns are written.

    ``unless_newer`` names a column (a timestamp or progress counter): a stored row whose value
    is greater is kept, so an out-of-order (older) delivery never rolls a row back.
    Returns whether a row was written.
    """
    table = model.__table__
    statement = _insert(session, model).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    condition = None
    if unless_newer is not None:
        condition = table.c[unless_newer] <= statement.excluded[unless_newer]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_=changes, where=condition
    ).returning(table.c[keys[0]])
    return session.execute(statement).first() is not None


def insert_new(
    session: Session, model: type[SQLModel], values: dict[str, Any], *, keys: tuple[str, ...]
) -> bool:
    """Insert unless a row with these keys exists; returns whether it was new."""
    statement = (
        _insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(model.__table__.c[keys[0]])
    )
    return session.execute(statement).first() is not None


def upsert_many(
    session: Session,
    model: type[SQLModel],
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    update: bool = True,
) -> None:
    """``upsert`` (``update=False``: ``insert_new``) of many rows in one executemany.
    ``rows`` share their columns and hold each key at most once."""
    if not rows:
        return
    statement = _insert(session, model)
    if update:
        changes = {name: statement.excluded[name] for name in rows[0] if name not in keys}
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(statement, rows)
