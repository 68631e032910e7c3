"""Session tokens: an HS256 JWT naming a server-side session row, so revocation is immediate."""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt
import structlog
from sqlmodel import Session

from opssight.config import get_settings
from opssight.models import User, UserSession
from opssight.models.base import utcnow
from opssight.services.auth.rbac import permissions_for

log = structlog.get_logger(__name__)

COOKIE_NAME = "opssight_session"
ALGORITHM = "HS256"
DEFAULT_TTL = timedelta(hours=12)


def issue(session: Session, *, user: User, ttl: timedelta = DEFAULT_TTL) -> str:
    """Create a session row and return its signed token."""
    now = utcnow()
    row = UserSession(id=secrets.token_urlsafe(24), user_id=user.id, expires_at=now + ttl)
    session.add(row)
    session.commit()
    claims = {
        "sub": str(user.id),
        "sid": row.id,
        "ver": user.token_version,
        "iat": int(now.timestamp()),
        "exp": int(row.expires_at.timestamp()),
        "roles": [user.role],
        "permissions": sorted(permissions_for(user.role)),
    }
    return jwt.encode(claims, get_settings().resolved_secret_key(), algorithm=ALGORITHM)


def resolve(session: Session, token: str | None) -> User | None:
    """The active user behind a token: valid signature and expiry, live session row, same version."""
    if not token:
        return None
    try:
        claims = jwt.decode(
            token,
            get_settings().resolved_secret_key(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "sid", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        log.info("session.rejected", reason=type(exc).__name__)
        return None
    row = session.get(UserSession, claims["sid"])
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or str(user.id) != claims["sub"]:
        return None
    return user if claims.get("ver") == user.token_version else None


def revoke(session: Session, session_id: str) -> None:
    row = session.get(UserSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
