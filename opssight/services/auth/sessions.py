"""Session tokens: an HS256 JWT naming a server-side session row, so revocation is immediate.

Two clocks: the JWT's ``exp`` is the absolute end (``session_max_days`` after sign-in); the row's
``expires_at`` is the idle end, pushed forward (sliding renewal) whenever the session is used,
at most once per ``TOUCH_EVERY``. A browser socket keeps the token it connected with, so renewal
lives on the row: the same token stays valid while it is in use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import structlog
from sqlmodel import Session, select

from opssight.config import get_settings
from opssight.models import User, UserSession
from opssight.models.base import utcnow
from opssight.services.auth.rbac import permissions_for

log = structlog.get_logger(__name__)

COOKIE_NAME = "opssight_session"
ALGORITHM = "HS256"
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Client:
    """Where a sign-in comes from, kept on the session row for the admin's session list."""

    ip: str | None = None
    user_agent: str | None = None


def idle_timeout() -> timedelta:
    return timedelta(hours=get_settings().session_idle_hours)


def max_lifetime() -> timedelta:
    return timedelta(days=get_settings().session_max_days)


def issue(
    session: Session,
    *,
    user: User,
    method: str = "password",
    client: Client = Client(),
    idle: timedelta | None = None,
) -> str:
    """Create a session row and return its signed token."""
    now = utcnow()
    row = UserSession(
        id=secrets.token_urlsafe(24),
        user_id=user.id,
        expires_at=now + (idle or idle_timeout()),
        last_seen_at=now,
        method=method,
        ip=client.ip,
        user_agent=(client.user_agent or "")[:300] or None,
    )
    stored = session.get(User, user.id)
    stored.last_login_at = stored.last_seen_at = now
    session.add_all([row, stored])
    session.commit()
    claims = {
        "sub": str(user.id),
        "sid": row.id,
        "ver": user.token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + max_lifetime()).timestamp()),
        "roles": [user.role],
        "permissions": sorted(permissions_for(user.role)),
    }
    return jwt.encode(claims, get_settings().resolved_secret_key(), algorithm=ALGORITHM)


def claims_of(token: str) -> dict | None:
    """The verified claims of a token (signature, expiry, required claims); None if refused."""
    try:
        return jwt.decode(
            token,
            get_settings().resolved_secret_key(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "sid", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        log.info("session.rejected", reason=type(exc).__name__)
        return None


def resolve(session: Session, token: str | None) -> User | None:
    """The active user behind a token: valid signature and expiry, live session row, same version.

    A session in use has its idle end pushed forward.
    """
    claims = claims_of(token) if token else None
    if claims is None:
        return None
    row = session.get(UserSession, claims["sid"])
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or str(user.id) != claims["sub"]:
        return None
    if claims.get("ver") != user.token_version:
        return None
    if row.last_seen_at is None or now - row.last_seen_at >= TOUCH_EVERY:
        _touch(session, row, user, now, absolute_end=_from_epoch(claims["exp"]))
    return user


def _touch(
    session: Session, row: UserSession, user: User, now: datetime, absolute_end: datetime
) -> None:
    row.last_seen_at = user.last_seen_at = now
    row.expires_at = min(now + idle_timeout(), absolute_end)
    session.add_all([row, user])
    session.commit()
    session.refresh(user)


def _from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def revoke(session: Session, session_id: str) -> UserSession | None:
    """End one session; the revoked row (None when unknown or already ended)."""
    row = session.get(UserSession, session_id)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    session.add(row)
    session.commit()
    return row


def revoke_all(session: Session, user: User) -> int:
    """Sign ``user`` out everywhere: every token ever issued to them stops resolving."""
    user.token_version += 1
    session.add(user)
    ended = end_sessions(session, user)
    session.commit()
    return ended


def end_sessions(session: Session, user: User, *, keep: str | None = None) -> int:
    """Revoke ``user``'s sessions but ``keep`` (by id), in the caller's transaction; how many."""
    query = select(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    rows = session.exec(query).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    session.add_all(rows)
    return len(rows)


def active(session: Session, *, limit: int = 200) -> list[UserSession]:
    """Live sessions, most recently used first."""
    now = utcnow()
    query = (
        select(UserSession)
        .where(UserSession.revoked_at.is_(None), UserSession.expires_at > now)
        .order_by(UserSession.last_seen_at.desc())
        .limit(limit)
    )
    return list(session.exec(query))
