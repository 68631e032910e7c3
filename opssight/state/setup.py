"""The first-run checklist on Overview: shown while demo data is on, one line per source."""

from __future__ import annotations

import asyncio

import reflex as rx

from opssight import db, routes
from opssight.services import connections, source_config
from opssight.state.session import protected


def _steps() -> tuple[bool, list[dict[str, str]]]:
    with db.session_scope() as session:
        steps = connections.checklist(session)
    form = f"{routes.CONNECTIONS.path}?add="
    return source_config.current().demo, [
        {"kind": s.kind, "title": s.title, "done": "yes" if s.done else "", "href": form + s.kind}
        for s in steps
    ]


class SetupState(rx.State):
    show: bool = False
    steps: list[dict[str, str]] = []

    @rx.event
    @protected("read")
    async def load(self) -> None:
        demo, self.steps = await asyncio.to_thread(_steps)
        self.show = demo and not all(step["done"] for step in self.steps)
