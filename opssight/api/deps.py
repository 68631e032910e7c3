"""The permission check for API routes (the counterpart of ``state.session.protected``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from fastapi import HTTPException, Request

from opssight import db
from opssight.models import User
from opssight.services.auth import sessions
from opssight.services.auth.rbac import permissions_for

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Caller:
    user: User
    permissions: frozenset[str]


def _resolve(token: str) -> User | None:
    with db.session_scope() as session:
        user = sessions.resolve(session, token)
        if user is not None:
            session.expunge(user)
        return user


def require_permission(permission: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the signed-in caller holding ``permission``; 401 or 403 otherwise."""

    async def dependency(request: Request) -> Caller:
        token = request.cookies.get(sessions.COOKIE_NAME)
        user = await asyncio.to_thread(_resolve, token) if token else None
        if user is None:
            raise HTTPException(401, "Sign in first.", headers={"WWW-Authenticate": "Cookie"})
        granted = permissions_for(user.role)
        if permission not in granted:
            log.warning(
                "api.refused", login=user.login, permission=permission, path=request.url.path
            )
            raise HTTPException(403, f"Not allowed: needs the {permission!r} permission.")
        return Caller(user=user, permissions=granted)

    return dependency
