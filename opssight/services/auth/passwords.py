"""Local accounts: bcrypt hashes, the bootstrap admin, sign-in with a password, and what a new
password must be.

Passwords are SHA-256'd before bcrypt (bcrypt reads only 72 bytes), base64 so no NUL byte
reaches it. An unknown login still costs one bcrypt check, so timing does not reveal accounts.
"""

from __future__ import annotations

import base64
import hashlib

import bcrypt
import structlog
from sqlmodel import Session, select

from opssight.models import User
from opssight.services.auth import throttle

log = structlog.get_logger(__name__)

MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 12
_DUMMY_HASH = bcrypt.hashpw(b"opssight-dummy", bcrypt.gensalt()).decode()


class LoginRefused(Exception):
    """Wrong login or password, disabled account, or too many attempts (``retry_after`` s)."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PasswordRefused(ValueError):
    """A password change refused; the message says why (shown as it is in the form and CLI)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _prepared(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str) -> str:
    return bcrypt.hashpw(_prepared(password), bcrypt.gensalt()).decode()


def check_password(password: str, hashed: str | None) -> bool:
    valid = bcrypt.checkpw(_prepared(password), (hashed or _DUMMY_HASH).encode())
    return valid and hashed is not None


def check_new_password(user: User, password: str) -> None:
    """``PasswordRefused`` unless ``password`` may become ``user``'s: long enough, and neither
    their login nor their current password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRefused(f"The new password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRefused(
            f"The new password may have at most {MAX_PASSWORD_LENGTH} characters."
        )
    if password.strip().casefold() == user.login.casefold():
        raise PasswordRefused("The new password must not be the login.")
    if user.password_hash is not None and check_password(password, user.password_hash):
        raise PasswordRefused("The new password must differ from the current one.")


def create_admin(session: Session, *, login: str, password: str) -> User:
    """A local admin account, committed: a concurrent insert of ``login`` raises
    ``IntegrityError`` here."""
    admin = User(login=login, name="Administrator", role="admin")
    admin.password_hash = hash_password(password)
    session.add(admin)
    session.commit()
    session.refresh(admin)
    return admin


def bootstrap_admin(session: Session, *, login: str, password: str) -> User | None:
    """Create the local admin on first start; an existing account is left as it is."""
    if session.exec(select(User).where(User.login == login)).first() is not None:
        return None
    admin = create_admin(session, login=login, password=password)
    log.info("auth.admin_bootstrapped", login=login)
    return admin


def authenticate(session: Session, *, login: str, password: str, ip: str) -> User:
    """The local user for these credentials, or ``LoginRefused`` (each failure is counted)."""
    login = login.strip()[:100]
    wait = throttle.retry_after(session, login=login, ip=ip)
    if wait is not None:
        log.warning("auth.login_throttled", login=login, ip=ip, retry_after=wait)
        raise LoginRefused("throttled", retry_after=wait)
    user = session.exec(select(User).where(User.login == login)).first() if login else None
    hashed = user.password_hash if user is not None else None
    if len(password) > MAX_PASSWORD_LENGTH or not check_password(password, hashed):
        throttle.record_failure(session, login=login, ip=ip)
        log.warning("auth.login_failed", login=login, ip=ip)
        raise LoginRefused("credentials")
    if not user.is_active:
        log.warning("auth.login_disabled", login=login, ip=ip)
        raise LoginRefused("disabled")
    throttle.clear(session, login=login)
    return user
