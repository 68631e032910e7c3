"""Which team a person's pages open on (their first team that owns a repository)."""

from __future__ import annotations

import asyncio

from opssight import db
from opssight.services.teams import default_team
from opssight.state.session import caller


def _default_team(user_id: int) -> str:
    with db.session_scope() as session:
        return default_team(session, user_id)


async def callers_team() -> str:
    """Inside a ``@protected`` handler: the caller's default team ("" for guests or none)."""
    user = caller().user
    return await asyncio.to_thread(_default_team, user.id) if user is not None else ""
