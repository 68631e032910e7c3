"""Admin → History: the partitioned history tables, their partitions and retention."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from opssight import db
from opssight.models import User
from opssight.services import history_retention
from opssight.services.history_retention import RetentionError
from opssight.state.session import protected, signed_in_user


def _rows(rows: int | None) -> str:
    return "not counted yet" if rows is None else f"≈ {rows:,}"


def _read() -> dict[str, Any]:
    with db.session_scope() as session:
        partitioned = history_retention.is_partitioned(session)
        tables = history_retention.tables(session)
    return {
        "partitioned": partitioned,
        "tables": [
            {
                "name": t.history.name,
                "label": t.history.label,
                "column": t.history.column,
                "months": str(t.months),
                "rollup": t.history.rollup.__tablename__,  # type: ignore[attr-defined]
                "partitions": str(len(t.partitions)),
            }
            for t in tables
        ],
        "partitions": [
            {
                "table": t.history.name,
                "name": p.name,
                "month": f"{p.month:%Y-%m}" if p.month else "default (outside every month)",
                "rows": _rows(p.rows),
            }
            for t in tables
            for p in t.partitions
        ],
    }


def _set(table: str, months: int | None) -> str | None:
    """The error to show, or None once the retention is saved."""
    if months is None:
        return "Months must be a whole number."
    with db.session_scope() as session:
        actor = session.get(User, signed_in_user().id)
        try:
            history_retention.set_retention(session, actor=actor, table=table, months=months)
        except RetentionError as exc:
            session.rollback()
            return str(exc)
    return None


def _months(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


class RetentionState(rx.State):
    loaded: bool = False
    partitioned: bool = False
    tables: list[dict[str, str]] = []
    partitions: list[dict[str, str]] = []

    async def _reload(self) -> None:
        data = await asyncio.to_thread(_read)
        self.partitioned, self.tables = data["partitioned"], data["tables"]
        self.partitions, self.loaded = data["partitions"], True

    @rx.event
    @protected("admin")
    async def load(self) -> None:
        await self._reload()

    @rx.event
    @protected("admin")
    async def set_months(self, form: dict[str, Any]):
        table, months = str(form.get("table", "")), _months(form.get("months"))
        error = await asyncio.to_thread(_set, table, months)
        await self._reload()
        if error:
            return rx.toast.error(error)
        return rx.toast.success(f"{table} keeps {months} months.")
