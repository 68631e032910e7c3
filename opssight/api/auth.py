"""Sign-out: a full-page navigation that revokes the session row and clears the cookie."""

from __future__ import annotations

import asyncio

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from opssight import db
from opssight.config import get_settings
from opssight.services.auth import sessions

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _revoke(token: str) -> None:
    try:
        claims = jwt.decode(
            token, get_settings().resolved_secret_key(), algorithms=[sessions.ALGORITHM]
        )
    except jwt.PyJWTError:
        return
    with db.session_scope() as session:
        sessions.revoke(session, str(claims.get("sid", "")))


@router.get("/logout")
async def logout(request: Request) -> RedirectResponse:
    token = request.cookies.get(sessions.COOKIE_NAME)
    if token:
        await asyncio.to_thread(_revoke, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response
