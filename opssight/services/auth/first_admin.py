"""The first admin when no one can administer and ``OPSSIGHT_ADMIN_PASSWORD`` is unset.

A random password is hashed like any local account's, shown once when the server starts, and
kept in ``<data_dir>/initial-admin-password`` (owner-only) so it can be found later, until that
admin's password is changed. Of several workers starting at once, the one whose insert commits
first is the only one to write and show it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import NamedTuple

import structlog
from sqlmodel import Session, select

from opssight.models import User
from opssight.services.auth.passwords import create_admin
from opssight.services.auth.rbac import ROLE_PERMISSIONS

log = structlog.get_logger(__name__)

FILE_NAME = "initial-admin-password"
PASSWORD_BYTES = 18  # 24 URL-safe characters, 144 random bits


class FirstAdmin(NamedTuple):
    login: str
    password: str
    saved_in: Path | None  # None when the data folder could not be written


def password_file(data_dir: Path) -> Path:
    return (data_dir / FILE_NAME).absolute()


def _someone_administers(session: Session) -> bool:
    roles = [role for role, permissions in ROLE_PERMISSIONS.items() if "admin" in permissions]
    admins = select(User.id).where(User.role.in_(roles), User.is_active)
    return session.exec(admins).first() is not None


def _save(password: str, data_dir: Path) -> Path | None:
    """Written to a draft readable by the owner only, then renamed over any earlier file."""
    path = password_file(data_dir)
    draft = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a leftover draft keeps its mode through O_TRUNC
        with os.fdopen(fd, "w") as file:
            file.write(f"{password}\n")
        os.replace(draft, path)
    except OSError as exc:
        log.warning("auth.admin_password_not_saved", path=str(path), error=str(exc))
        return None
    return path


def create(session: Session, *, login: str, data_dir: Path) -> FirstAdmin | None:
    """The admin ``login`` with a new random password when no active admin exists; None
    otherwise. A concurrent worker's insert of ``login`` raises ``IntegrityError``."""
    if _someone_administers(session):
        return None
    if session.exec(select(User.id).where(User.login == login)).first() is not None:
        log.warning("auth.admin_login_taken", login=login, setting="OPSSIGHT_ADMIN_LOGIN")
        return None
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    create_admin(session, login=login, password=password)
    saved_in = _save(password, data_dir)
    log.info("auth.admin_generated", login=login, saved_in=saved_in and str(saved_in))
    return FirstAdmin(login, password, saved_in)


def announcement(admin: FirstAdmin, sign_in_url: str) -> str:
    """The boxed message ``opssight run`` prints once."""
    lines = [
        "OpsSight first start: an admin account was created.",
        "",
        f"  Sign in at  {sign_in_url}",
        f"  Login       {admin.login}",
        f"  Password    {admin.password}",
        "",
    ]
    if admin.saved_in is not None:
        lines.append(f"The password is also in {admin.saved_in} (owner only);")
        lines.append("delete that file once you have kept the password elsewhere.")
    else:
        lines.append("It is shown only this once: keep it now.")
    width = max(len(line) for line in lines)
    rule = f"+{'-' * (width + 2)}+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


def unclaimed_file(session: Session, *, login: str, data_dir: Path) -> Path | None:
    """The saved password's file while it exists and the admin ``login`` never signed in."""
    path = password_file(data_dir)
    if not path.exists():
        return None
    admin = session.exec(select(User).where(User.login == login)).first()
    return path if admin is not None and admin.last_login_at is None else None


def retire_file(*, login: str, admin_login: str, data_dir: Path) -> Path | None:
    """Once the admin ``admin_login`` has a new password, its saved first-start password no
    longer signs in: delete the file (so the sign-in page stops pointing at it). The path
    deleted, or None."""
    if login != admin_login:
        return None
    path = password_file(data_dir)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("auth.admin_password_not_removed", path=str(path), error=str(exc))
        return None
    log.info("auth.admin_password_file_removed", path=str(path))
    return path
