"""Who is calling, checked on every protected event: ``@protected(permission)``.

The session cookie is read from the websocket handshake and verified on each use (signature,
expiry, session row, token version, active user), so a revoked session or a disabled person is
refused at their next event. With demo mode on, a visitor who has not signed in is a read-only
guest. A refused handler does nothing and returns a redirect to the sign-in page (no session)
or a "Not allowed" toast (signed in without the permission).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote

import reflex as rx
import structlog

from opssight import db
from opssight.models import User
from opssight.services import source_config
from opssight.services.auth import sessions
from opssight.services.auth.navigation import LOGIN_PAGE, safe_next
from opssight.services.auth.rbac import GUEST_PERMISSIONS, permissions_for

log = structlog.get_logger(__name__)

NOT_ALLOWED = "Not allowed: your role does not include this."


@dataclass(frozen=True)
class Principal:
    """A signed-in user, or (demo mode only) an anonymous guest with ``user=None``."""

    user: User | None
    permissions: frozenset[str]

    @property
    def guest(self) -> bool:
        return self.user is None


_CALLER: ContextVar[Principal | None] = ContextVar("opssight_caller", default=None)


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


async def principal(state: rx.State) -> Principal | None:
    """The caller: a user, a demo guest, or None (not signed in, demo off)."""
    user = await current_user(state)
    if user is not None:
        return Principal(user, permissions_for(user.role))
    demo = (await source_config.current_async()).demo
    return Principal(None, GUEST_PERMISSIONS) if demo else None


def caller() -> Principal:
    """Inside a ``@protected`` handler: who called it (already checked)."""
    found = _CALLER.get()
    if found is None:
        raise RuntimeError("caller() outside a @protected handler")
    return found


def signed_in_user() -> User:
    """Inside a handler protected by a permission guests lack: the signed-in user."""
    user = caller().user
    if user is None:
        raise RuntimeError("a guest reached a handler that needs a signed-in user")
    return user


def sign_in_url(state: rx.State) -> str:
    """The sign-in page, coming back to the page this browser is on."""
    url = state.router.url
    here = f"{url.path}?{url.query}" if url.query else url.path
    return f"{LOGIN_PAGE}?next={quote(safe_next(here), safe='')}"


def refusal(state: rx.State, who: Principal | None, handler: str, permission: str | None) -> Any:
    if who is None or who.guest:
        log.warning("event.refused", handler=handler, permission=permission, reason="no session")
        return rx.redirect(sign_in_url(state))
    log.warning("event.refused", handler=handler, permission=permission, login=who.user.login)
    return rx.toast.error(NOT_ALLOWED, id="os-not-allowed")  # one toast however many refuse


def _allowed(who: Principal | None, permission: str | None) -> bool:
    if who is None:
        return False
    if permission is None:  # any signed-in person
        return not who.guest
    return permission in who.permissions


def protected(permission: str | None) -> Callable:
    """Decorate an event handler (under ``@rx.event``): it runs only for a caller holding
    ``permission`` (None: anyone signed in); otherwise it is refused and changes nothing.

    The wrapper carries ``required_permission``, so tests can enumerate protected handlers.
    """

    def decorate(fn: Callable) -> Callable:
        name = fn.__qualname__
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def generator(self: rx.State, *args: Any, **kwargs: Any):
                who = await principal(self)
                if not _allowed(who, permission):
                    yield refusal(self, who, name, permission)
                    return
                token = _CALLER.set(who)
                try:
                    async for update in fn(self, *args, **kwargs):
                        yield update
                finally:
                    _CALLER.reset(token)

            generator.required_permission = permission
            return generator

        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"{name}: protected handlers must be async")

        @functools.wraps(fn)
        async def handler(self: rx.State, *args: Any, **kwargs: Any) -> Any:
            who = await principal(self)
            if not _allowed(who, permission):
                return refusal(self, who, name, permission)
            token = _CALLER.set(who)
            try:
                return await fn(self, *args, **kwargs)
            finally:
                _CALLER.reset(token)

        handler.required_permission = permission
        return handler

    return decorate
