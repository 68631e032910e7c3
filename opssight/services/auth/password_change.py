"""Changing a local password: a person's own change, and an operator's reset from the command line.

A change needs the current password; wrong ones count as failed sign-ins of the account, so the
same limits hold (``throttle``: per account and per address). Both store the new bcrypt hash, end
the account's other sessions (a reset ends all of them) and write an audit row, never the
password, in one transaction; then the first-start admin's saved password file goes.
"""

from __future__ import annotations

import math

import structlog
from sqlmodel import Session, select

from opssight.config import get_settings
from opssight.models import User
from opssight.services import audit
from opssight.services.auth import first_admin, sessions, throttle
from opssight.services.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordRefused,
    check_new_password,
    check_password,
    hash_password,
)

log = structlog.get_logger(__name__)

CLI_ACTOR = "opssight set-password"  # who reset a password, in the audit log
NO_PASSWORD = "signs in with GitHub and has no OpsSight password"


def change(
    session: Session, *, user_id: int, current: str, new: str, keep_session: str, ip: str
) -> int:
    """``user_id`` replaces ``current`` by ``new``; their sessions but ``keep_session`` end (how
    many is returned). ``PasswordRefused`` says why not."""
    user = session.get(User, user_id)
    if user is None or user.password_hash is None:
        raise PasswordRefused(f"This account {NO_PASSWORD}.")
    wait = throttle.retry_after(session, login=user.login, ip=ip)
    if wait is not None:
        log.warning("auth.password_change_throttled", login=user.login, ip=ip, retry_after=wait)
        raise PasswordRefused(
            f"Too many wrong passwords. Try again in {_minutes(wait)}.", retry_after=wait
        )
    if len(current) > MAX_PASSWORD_LENGTH or not check_password(current, user.password_hash):
        throttle.record_failure(session, login=user.login, ip=ip)
        log.warning("auth.password_change_refused", login=user.login, ip=ip)
        raise PasswordRefused("The current password is wrong.")
    check_new_password(user, new)
    throttle.clear(session, login=user.login)
    return _store(session, user, new, actor=user, action="user.password_change", keep=keep_session)


def reset(session: Session, *, login: str, new: str) -> int:
    """An operator sets ``login``'s password (lost, or known to others): all its sessions end and
    its failed sign-ins are forgiven. How many sessions ended."""
    user = session.exec(select(User).where(User.login == login)).first()
    if user is None:
        raise PasswordRefused(f"No account has the login {login!r}.")
    if user.password_hash is None:
        raise PasswordRefused(f"{login} {NO_PASSWORD}.")
    check_new_password(user, new)
    throttle.clear(session, login=user.login)
    return _store(session, user, new, actor=CLI_ACTOR, action="user.password_reset", keep=None)


def _store(
    session: Session, user: User, new: str, *, actor: User | str, action: str, keep: str | None
) -> int:
    user.password_hash = hash_password(new)
    session.add(user)
    ended = sessions.end_sessions(session, user, keep=keep)
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="user",
        target_id=user.login,
        before=None,
        after={"sessions_ended": ended},
    )
    session.commit()
    log.info("auth.password_changed", login=user.login, action=action, sessions_ended=ended)
    settings = get_settings()
    first_admin.retire_file(
        login=user.login, admin_login=settings.admin_login, data_dir=settings.data_dir
    )
    return ended


def _minutes(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
