"""The audit log: one row for every change a person makes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from opssight.models import AuditLog, User


def record(
    session: Session,
    *,
    actor: User | str,
    action: str,
    target_type: str,
    target_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditLog:
    """Add the row to the caller's transaction (committed with the change it describes).

    ``actor`` is a person, or what acted without an account (a command run on the server).
    """
    person = actor if isinstance(actor, User) else None
    entry = AuditLog(
        actor_id=person.id if person else None,
        actor_login=person.login if person else actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def search(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """Newest first: one page of the entries matching every given filter, and their total.

    ``actor`` is an exact login; ``action`` a prefix (``team.`` finds every team change);
    ``target`` a substring of the target type or id.
    """
    conditions = []
    if actor:
        conditions.append(AuditLog.actor_login == actor)
    if action:
        conditions.append(AuditLog.action.startswith(action, autoescape=True))
    if target:
        conditions.append(
            or_(
                AuditLog.target_id.contains(target, autoescape=True),
                AuditLog.target_type.contains(target, autoescape=True),
            )
        )
    if since is not None:
        conditions.append(AuditLog.at >= since)
    if until is not None:
        conditions.append(AuditLog.at < until)
    total = session.exec(select(func.count()).select_from(AuditLog).where(*conditions)).one()
    query = (
        select(AuditLog)
        .where(*conditions)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query)), total


def recent(session: Session, *, limit: int = 50) -> list[AuditLog]:
    return search(session, limit=limit)[0]
