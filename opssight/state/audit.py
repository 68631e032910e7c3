"""The audit log page: who changed what, when, before and after; filtered server-side."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import reflex as rx

from opssight import db
from opssight.models.base import utcnow
from opssight.services import audit
from opssight.state.inputs import single
from opssight.state.session import protected

PAGE_SIZE = 50
WINDOWS = {
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}


def _shown(value: dict[str, Any] | None) -> str:
    return json.dumps(value, sort_keys=True, default=str) if value else "—"


def _search(filters: dict[str, str], page: int) -> tuple[list[dict[str, str]], int]:
    window = WINDOWS.get(filters["window"])
    with db.read_session_scope() as session:
        entries, total = audit.search(
            session,
            actor=filters["actor"].strip() or None,
            action=filters["action"].strip() or None,
            target=filters["target"].strip() or None,
            since=utcnow() - window if window else None,
            limit=PAGE_SIZE,
            offset=page * PAGE_SIZE,
        )
        rows = [
            {
                "at": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "actor": e.actor_login,
                "action": e.action,
                "target": f"{e.target_type}:{e.target_id}",
                "before": _shown(e.before),
                "after": _shown(e.after),
            }
            for e in entries
        ]
    return rows, total


class AuditState(rx.State):
    actor: str = ""
    action: str = ""
    target: str = ""
    window: str = "7d"
    page: int = 0
    total: int = 0
    rows: list[dict[str, str]] = []
    loaded: bool = False

    @rx.var
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    async def _reload(self) -> None:
        filters = {"actor": self.actor, "action": self.action, "target": self.target}
        filters["window"] = self.window
        self.rows, self.total = await asyncio.to_thread(_search, filters, self.page)
        self.loaded = True

    @rx.event
    @protected("admin")
    async def load(self) -> None:
        await self._reload()

    @rx.event
    @protected("admin")
    async def apply_filters(self, form: dict[str, Any]) -> None:
        self.actor = str(form.get("actor", ""))[:100]
        self.action = str(form.get("action", ""))[:100]
        self.target = str(form.get("target", ""))[:200]
        self.page = 0
        await self._reload()

    @rx.event
    @protected("admin")
    async def choose_window(self, value: str | list[str]) -> None:
        chosen = single(value)
        self.window = chosen if chosen in WINDOWS else "7d"
        self.page = 0
        await self._reload()

    @rx.event
    @protected("admin")
    async def go_to_page(self, delta: int) -> None:
        self.page = min(max(0, self.page + int(delta)), self.pages - 1)
        await self._reload()
