"""Bearer tokens the Ansible callback sends: ``OPSSIGHT_ANSIBLE_TOKEN``, or tokens issued here.

An issued token is shown once; only its SHA-256 is stored. Creating and revoking are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from opssight.models import AutomationToken, User
from opssight.models.base import utcnow
from opssight.services import audit

PREFIX = "ossa_"
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


class TokenError(ValueError):
    """A token change that cannot be made (no name, unknown or already revoked token)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def matches_setting(expected: str | None, presented: str) -> bool:
    """``OPSSIGHT_ANSIBLE_TOKEN`` compared in constant time."""
    return expected is not None and hmac.compare_digest(expected.encode(), presented.encode())


def create(session: Session, *, name: str, actor: User) -> tuple[AutomationToken, str]:
    """Issue a token; returns its row and the plaintext, which is never available again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("A token needs a name of 1 to 100 characters.")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    row = AutomationToken(name=name, token_hash=digest(plaintext), created_by=actor.login)
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="automation_token.create", target_type="automation_token",
        target_id=str(row.id), before=None, after={"name": name},
    )  # fmt: skip
    session.commit()
    session.refresh(row)
    return row, plaintext


def revoke(session: Session, token_id: int, *, actor: User) -> AutomationToken:
    row = session.get(AutomationToken, token_id)
    if row is None or row.revoked_at is not None:
        raise TokenError("No such token, or it is already revoked.")
    row.revoked_at = utcnow()
    session.add(row)
    audit.record(
        session, actor=actor, action="automation_token.revoke", target_type="automation_token",
        target_id=str(row.id), before={"name": row.name}, after={"revoked": True},
    )  # fmt: skip
    session.commit()
    session.refresh(row)
    return row


def verify(session: Session, presented: str) -> AutomationToken | None:
    """The unrevoked issued token this is, or None (hashes compared in constant time)."""
    wanted = digest(presented)
    row = session.exec(
        select(AutomationToken).where(
            AutomationToken.token_hash == wanted, col(AutomationToken.revoked_at).is_(None)
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def list_tokens(session: Session) -> list[AutomationToken]:
    return list(session.exec(select(AutomationToken).order_by(col(AutomationToken.id).desc())))
