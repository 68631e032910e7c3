"""Changing a local password (the person's own change and the operator's reset): the new password
signs in and the old one no longer does, other sessions end, the audit row never holds a
password, wrong current passwords are limited as sign-ins are, and the first-start admin's saved
password file goes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
import structlog
from sqlmodel import Session, select

from opssight import db
from opssight.api import create_api
from opssight.config import get_settings
from opssight.models import AuditLog, LoginFailure, User, UserSession
from opssight.services.auth import first_admin, password_change, passwords, sessions, throttle
from opssight.services.auth.passwords import PasswordRefused

OLD = "correct horse battery"
NEW = "a much longer new passphrase"
IP = "10.1.2.3"


@pytest.fixture
async def app() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://opssight.test") as client:
        yield client


async def signs_in(app: httpx.AsyncClient, login: str, password: str) -> bool:
    """The real sign-in form: a session cookie comes back, or a refusal."""
    app.cookies.clear()
    form = {"login": login, "password": password, "next": "/"}
    response = await app.post("/api/auth/login", data=form)
    assert response.status_code == 303
    return sessions.COOKIE_NAME in response.cookies


def local_user(session: Session, login: str = "alice", password: str = OLD) -> User:
    user = User(login=login, role="developer", password_hash=passwords.hash_password(password))
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def sid(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def resolves(url: str, token: str) -> bool:
    with db.session_scope(url) as fresh:
        return sessions.resolve(fresh, token) is not None


def change(url: str, user: User, current: str, new: str, keep: str) -> int:
    with db.session_scope(url) as fresh:
        return password_change.change(
            fresh, user_id=user.id, current=current, new=new, keep_session=keep, ip=IP
        )


def stored_hash(url: str, user: User) -> str | None:
    with db.session_scope(url) as fresh:
        return fresh.get(User, user.id).password_hash


def audit_rows(url: str) -> list[AuditLog]:
    with db.session_scope(url) as fresh:
        return list(fresh.exec(select(AuditLog).order_by(AuditLog.id)))


def failures(url: str, login: str) -> int:
    with db.session_scope(url) as fresh:
        return len(fresh.exec(select(LoginFailure).where(LoginFailure.login == login)).all())


async def test_a_change_signs_in_with_the_new_password_only_and_ends_other_sessions(
    session: Session, database_url: str, app: httpx.AsyncClient
) -> None:
    user = local_user(session)
    here = sessions.issue(session, user=user, method="password")
    laptop = sessions.issue(session, user=user, method="password")
    phone = sessions.issue(session, user=user, method="password")
    someone_else = sessions.issue(session, user=local_user(session, "bob"), method="password")

    with structlog.testing.capture_logs() as events:
        ended = change(database_url, user, OLD, NEW, keep=sid(here))

    assert ended == 2
    assert resolves(database_url, here)  # the browser that changed it stays signed in
    assert not resolves(database_url, laptop) and not resolves(database_url, phone)
    assert resolves(database_url, someone_else)
    assert await signs_in(app, "alice", NEW)
    assert not await signs_in(app, "alice", OLD)
    (entry,) = audit_rows(database_url)
    assert (entry.actor_login, entry.action, entry.target_id) == (
        "alice",
        "user.password_change",
        "alice",
    )
    assert entry.actor_id == user.id and entry.after == {"sessions_ended": 2}
    row = json.dumps([entry.before, entry.after]) + repr(events)
    assert OLD not in row and NEW not in row  # neither password in the audit row nor the log
    assert stored_hash(database_url, user).startswith("$2b$")


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_sign_in(
    session: Session, database_url: str, app: httpx.AsyncClient
) -> None:
    user = local_user(session)
    here = sessions.issue(session, user=user, method="password")
    other = sessions.issue(session, user=user, method="password")
    before = stored_hash(database_url, user)

    with pytest.raises(PasswordRefused, match="current password is wrong"):
        change(database_url, user, "not the password", NEW, keep=sid(here))

    assert stored_hash(database_url, user) == before
    assert resolves(database_url, other)
    assert audit_rows(database_url) == []
    assert failures(database_url, "alice") == 1
    assert await signs_in(app, "alice", OLD)  # a success forgives the account, as for sign-in
    assert failures(database_url, "alice") == 0


async def test_wrong_current_passwords_are_limited_like_sign_ins(
    session: Session, database_url: str, app: httpx.AsyncClient
) -> None:
    user = local_user(session)
    here = sid(sessions.issue(session, user=user, method="password"))
    for _ in range(throttle.PER_ACCOUNT):
        with pytest.raises(PasswordRefused, match="current password is wrong"):
            change(database_url, user, "guess", NEW, keep=here)

    with pytest.raises(PasswordRefused, match=r"Too many wrong passwords\. Try again in") as exc:
        change(database_url, user, OLD, NEW, keep=here)  # even the right one, for a while

    assert 0 < exc.value.retry_after <= throttle.WINDOW.total_seconds()
    assert failures(database_url, "alice") == throttle.PER_ACCOUNT  # a refusal is not counted
    assert not await signs_in(app, "alice", OLD)  # the account's sign-in is limited too
    assert passwords.check_password(OLD, stored_hash(database_url, user))


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("short-pass1", "at least 12 characters"),
        (OLD, "differ from the current one"),
        ("x" * (passwords.MAX_PASSWORD_LENGTH + 1), "at most 1024 characters"),
    ],
)
def test_a_weak_new_password_is_refused(
    session: Session, database_url: str, new: str, reason: str
) -> None:
    user = local_user(session)
    here = sid(sessions.issue(session, user=user, method="password"))
    before = stored_hash(database_url, user)
    with pytest.raises(PasswordRefused, match=reason):
        change(database_url, user, OLD, new, keep=here)
    assert stored_hash(database_url, user) == before
    assert audit_rows(database_url) == []
    assert failures(database_url, "alice") == 0  # the current password was right


def test_the_login_is_not_a_password(session: Session, database_url: str) -> None:
    user = local_user(session, login="release-manager")
    here = sid(sessions.issue(session, user=user, method="password"))
    with pytest.raises(PasswordRefused, match="must not be the login"):
        change(database_url, user, OLD, "Release-Manager", keep=here)
    assert passwords.check_password(OLD, stored_hash(database_url, user))


def test_a_github_account_has_no_password_to_change(session: Session, database_url: str) -> None:
    mona = User(login="mona", github_id=583231, role="viewer")
    session.add(mona)
    session.commit()
    here = sid(sessions.issue(session, user=mona, method="github"))
    with pytest.raises(PasswordRefused, match="signs in with GitHub"):
        change(database_url, mona, "", NEW, keep=here)
    assert stored_hash(database_url, mona) is None
    assert failures(database_url, "mona") == 0


def test_the_first_admins_saved_password_goes_with_the_change(
    session: Session, database_url: str
) -> None:
    settings = get_settings()
    created = first_admin.create(session, login="admin", data_dir=settings.data_dir)
    saved = created.saved_in
    assert saved is not None and saved.exists()
    bob = local_user(session, "bob")
    change(database_url, bob, OLD, NEW, keep="")  # someone else's change leaves it
    assert saved.exists()

    admin = session.exec(select(User).where(User.login == "admin")).one()
    here = sessions.issue(session, user=admin, method="password")
    change(database_url, admin, created.password, NEW, keep=sid(here))

    assert not saved.exists()
    with db.session_scope(database_url) as fresh:
        assert first_admin.unclaimed_file(fresh, login="admin", data_dir=settings.data_dir) is None


async def test_an_operator_reset_ends_every_session_and_is_audited(
    session: Session, database_url: str, app: httpx.AsyncClient
) -> None:
    user = local_user(session)
    tokens = [sessions.issue(session, user=user, method="password") for _ in range(2)]
    for _ in range(throttle.PER_ACCOUNT):
        assert not await signs_in(app, "alice", "guess")

    with db.session_scope(database_url) as fresh:
        assert password_change.reset(fresh, login="alice", new=NEW) == 2

    assert not any(resolves(database_url, token) for token in tokens)
    assert await signs_in(app, "alice", NEW)  # its failed sign-ins were forgiven
    (entry,) = audit_rows(database_url)
    assert (entry.actor_id, entry.actor_login) == (None, password_change.CLI_ACTOR)
    assert (entry.action, entry.target_id) == ("user.password_reset", "alice")
    assert NEW not in json.dumps([entry.before, entry.after])
    with db.session_scope(database_url) as fresh:
        live = fresh.exec(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
        assert [row.user_id for row in live] == [user.id]  # the sign-in just made


def test_a_reset_refuses_unknown_and_github_accounts(session: Session, database_url: str) -> None:
    session.add(User(login="mona", github_id=583231, role="viewer"))
    session.commit()
    with pytest.raises(PasswordRefused, match="No account has the login 'nobody'"):
        password_change.reset(session, login="nobody", new=NEW)
    with pytest.raises(PasswordRefused, match="mona signs in with GitHub"):
        password_change.reset(session, login="mona", new=NEW)
    assert audit_rows(database_url) == []
