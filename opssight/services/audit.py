"""The audit log: one row for every change a person makes."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from opssight.models import AuditLog, User


def record(
    session: Session,
    *,
    actor: User,
    action: str,
    target_type: str,
    target_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditLog:
    """Add the row to the caller's transaction (committed with the change it describes)."""
    entry = AuditLog(
        actor_id=actor.id,
        actor_login=actor.login,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def recent(session: Session, *, limit: int = 50) -> list[AuditLog]:
    query = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
    return list(session.exec(query))
