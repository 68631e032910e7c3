"""Admin: users and the audit log, for the admin permission only (checked on every load)."""

from __future__ import annotations

import asyncio

import reflex as rx

from opssight import db
from opssight.services import audit, users
from opssight.state.session import require


def _fetch() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    with db.session_scope() as session:
        people = [
            {"login": u.login, "role": u.role, "active": "yes" if u.is_active else "no"}
            for u in users.list_users(session)
        ]
        entries = [
            {
                "at": e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "actor": e.actor_login,
                "action": e.action,
                "target": f"{e.target_type}:{e.target_id}",
            }
            for e in audit.recent(session)
        ]
    return people, entries


class AdminState(rx.State):
    allowed: bool = False
    users: list[dict[str, str]] = []
    audit: list[dict[str, str]] = []

    @rx.event
    async def load(self) -> None:
        if await require(self, "admin") is None:
            self.allowed, self.users, self.audit = False, [], []
            return
        self.users, self.audit = await asyncio.to_thread(_fetch)
        self.allowed = True
