"""Who is calling: the session cookie from the websocket handshake, verified on every use."""

from __future__ import annotations

import asyncio
from http.cookies import CookieError, SimpleCookie

import reflex as rx

from opssight import db
from opssight.models import User
from opssight.services.auth import sessions
from opssight.services.auth.rbac import permissions_for


def session_token(state: rx.State) -> str | None:
    """The HttpOnly session cookie as sent when the socket connected (never readable by JS)."""
    try:
        cookie = SimpleCookie(state.router.headers.cookie or "")
    except CookieError:
        return None
    morsel = cookie.get(sessions.COOKIE_NAME)
    return morsel.value if morsel else None


def _resolve(token: str) -> User | None:
    with db.session_scope() as session:
        return sessions.resolve(session, token)


async def current_user(state: rx.State) -> User | None:
    """Signature, expiry, session row and token version checked on each call."""
    token = session_token(state)
    return await asyncio.to_thread(_resolve, token) if token else None


async def require(state: rx.State, permission: str) -> User | None:
    """The caller if signed in with ``permission``; None (and the handler must stop) otherwise."""
    user = await current_user(state)
    if user is None or permission not in permissions_for(user.role):
        return None
    return user
