"""People known to OpsSight, and the changes an admin makes to them (each audited)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from opssight.models import User
from opssight.services import audit
from opssight.services.auth import sessions
from opssight.services.auth.rbac import ROLE_PERMISSIONS


class UserError(ValueError):
    """A change that cannot be made (unknown user or role, or locking the last admin out)."""


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.login)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserError("No such user.")
    return user


def _other_active_admins(session: Session, user: User) -> int:
    query = select(func.count()).where(
        User.role == "admin", User.is_active.is_(True), User.id != user.id
    )
    return session.exec(query).one()


def set_role(session: Session, *, actor: User, user_id: int, role: str) -> User:
    if role not in ROLE_PERMISSIONS:
        raise UserError(f"Unknown role {role!r}.")
    user = get_user(session, user_id)
    if user.role == role:
        return user
    if user.role == "admin" and not _other_active_admins(session, user):
        raise UserError("OpsSight needs at least one active admin.")
    _record(session, actor, "user.role", user, {"role": user.role}, {"role": role})
    user.role = role
    session.add(user)
    session.commit()
    return user


def set_active(session: Session, *, actor: User, user_id: int, active: bool) -> User:
    """Enable or disable an account; a disabled person is refused at their next event."""
    user = get_user(session, user_id)
    if user.is_active == active:
        return user
    if not active and user.role == "admin" and not _other_active_admins(session, user):
        raise UserError("OpsSight needs at least one active admin.")
    _record(session, actor, "user.active", user, {"active": user.is_active}, {"active": active})
    user.is_active = active
    session.add(user)
    session.commit()
    return user


def sign_out_everywhere(session: Session, *, actor: User, user_id: int) -> int:
    """End every session of a person (themselves, or anyone for an admin); how many ended."""
    user = get_user(session, user_id)
    ended = sessions.revoke_all(session, user)
    _record(session, actor, "user.sign_out_everywhere", user, None, {"sessions_ended": ended})
    session.commit()
    return ended


def record_session_revoked(session: Session, *, actor: User, user: User, session_id: str) -> None:
    _record(session, actor, "session.revoke", user, {"session": session_id[:8]}, None)
    session.commit()


def _record(
    session: Session, actor: User, action: str, user: User, before: dict | None, after: dict | None
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="user",
        target_id=user.login,
        before=before,
        after=after,
    )
