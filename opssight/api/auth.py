"""Sign-in and sign-out: full-page navigations that set or clear the HttpOnly session cookie.

Errors go back to ``/login?error=<code>`` (the page shows ``MESSAGES[code]``); a
client asking for JSON gets the same code with a precise status instead.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated
from urllib.parse import quote, unquote

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from opssight import db
from opssight.api.deps import Caller, require_permission
from opssight.api.limits import client_address
from opssight.config import get_settings
from opssight.models import User
from opssight.services.auth import github_login, passwords, sessions
from opssight.services.auth.github_login import SignInError
from opssight.services.auth.navigation import LOGIN_PAGE, MESSAGES, safe_next
from opssight.services.auth.rbac import permissions_for
from opssight.services.teams import teams_of

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/auth", tags=["auth"])

STATE_COOKIE = "opssight_oauth"
STATE_TTL_SECONDS = 600
STATUS = {"credentials": 401, "disabled": 403, "throttled": 429, "origin": 403}


def _client(request: Request) -> sessions.Client:
    return sessions.Client(
        ip=client_address(request.scope, get_settings().proxy_hops) if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _signed_in(user_id: int, method: str, client: sessions.Client, target: str) -> Response:
    with db.session_scope() as session:
        user = session.get(User, user_id)
        token = sessions.issue(session, user=user, method=method, client=client)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=int(sessions.max_lifetime().total_seconds()),
        path="/",
        httponly=True,
        secure=get_settings().secure_cookies,
        samesite="lax",
    )
    return response


def _refused(code: str, request: Request, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    if "application/json" in request.headers.get("accept", ""):
        body = {"error": code, "message": MESSAGES[code]}
        return JSONResponse(body, status_code=STATUS.get(code, 400), headers=headers)
    return RedirectResponse(f"{LOGIN_PAGE}?error={code}", status_code=303, headers=headers)


@router.get("/github/login")
async def github_start(next: str | None = None) -> Response:
    state = github_login.new_state()
    try:
        target = github_login.authorize_url(state)
    except SignInError as exc:
        return RedirectResponse(f"{LOGIN_PAGE}?error={exc.code}", status_code=303)
    response = RedirectResponse(target, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        f"{state}.{quote(safe_next(next), safe='')}",
        max_age=STATE_TTL_SECONDS,
        path="/api/auth/github",
        httponly=True,
        secure=get_settings().secure_cookies,
        samesite="lax",
    )
    return response


def _github_user(access_token: str) -> int:
    identity = github_login.read_identity(access_token)
    with db.session_scope() as session:
        return github_login.sign_in(session, identity).id


@router.get("/github/callback")
async def github_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    kept, _, next_path = request.cookies.get(STATE_COOKIE, "").partition(".")
    try:
        if not state or not kept or not hmac.compare_digest(state, kept):
            raise SignInError("state")
        if error:
            raise SignInError("denied" if error == "access_denied" else "github", error)
        if not code:
            raise SignInError("github", "no code")
        access_token = await github_login.exchange(code)
        user_id = await asyncio.to_thread(_github_user, access_token)
        response = await asyncio.to_thread(
            _signed_in, user_id, "github", _client(request), safe_next(unquote(next_path))
        )
    except SignInError as exc:
        log.warning("auth.github_refused", reason=exc.code, detail=exc.detail)
        response = _refused(exc.code, request)
    response.delete_cookie(STATE_COOKIE, path="/api/auth/github", httponly=True, samesite="lax")
    return response


def _same_origin(request: Request) -> bool:
    """A form post from our own pages (browsers send Origin on POST); other clients send none."""
    origin = request.headers.get("origin")
    return origin is None or origin == get_settings().public_url or origin == _own(request)


def _own(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _authenticate(login: str, password: str, ip: str) -> int:
    with db.session_scope() as session:
        return passwords.authenticate(session, login=login, password=password, ip=ip).id


@router.post("/login")
async def password_login(
    request: Request,
    login: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=passwords.MAX_PASSWORD_LENGTH)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    if not _same_origin(request):
        log.warning("auth.login_foreign_origin", origin=request.headers.get("origin"))
        return _refused("origin", request)
    client = _client(request)
    try:
        user_id = await asyncio.to_thread(_authenticate, login, password, client.ip or "unknown")
    except passwords.LoginRefused as exc:
        return _refused(exc.reason, request, exc.retry_after)
    return await asyncio.to_thread(_signed_in, user_id, "password", client, safe_next(next))


def _revoke(token: str) -> None:
    claims = sessions.claims_of(token)
    if claims is not None:
        with db.session_scope() as session:
            sessions.revoke(session, str(claims["sid"]))


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request) -> RedirectResponse:
    token = request.cookies.get(sessions.COOKIE_NAME)
    if token:
        await asyncio.to_thread(_revoke, token)
    response = RedirectResponse(LOGIN_PAGE, status_code=303)
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response


def _teams(user_id: int) -> list[str]:
    with db.session_scope() as session:
        return teams_of(session, user_id)


@router.get("/me")
async def me(caller: Annotated[Caller, Depends(require_permission("read"))]) -> dict:
    """The signed-in person: who, role, permissions, teams."""
    user = caller.user
    return {
        "login": user.login,
        "name": user.name,
        "avatar_url": user.avatar_url,
        "role": user.role,
        "permissions": sorted(permissions_for(user.role)),
        "teams": await asyncio.to_thread(_teams, user.id),
    }
