"""Session tokens resolve only while the session, the user and the key are all still valid."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlmodel import Session, select

from opssight import db
from opssight.config import get_settings
from opssight.models import AuditLog, User, UserSession
from opssight.models.base import utcnow
from opssight.schemas.theme import ThemePreference
from opssight.services import preferences
from opssight.services.auth import sessions


def make_user(session: Session, login: str = "alice", role: str = "developer") -> User:
    user = User(login=login, role=role)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def resolve_fresh(url: str, token: str | None) -> User | None:
    """Resolve as a new request would: its own session."""
    with db.session_scope(url) as fresh:
        return sessions.resolve(fresh, token)


def resolve_user(url: str, user_id: int) -> User:
    with db.session_scope(url) as fresh:
        return fresh.get(User, user_id)


def test_issued_token_resolves_to_its_user(session: Session, database_url: str) -> None:
    user = make_user(session)
    token = sessions.issue(session, user=user)
    resolved = resolve_fresh(database_url, token)
    assert resolved is not None
    assert (resolved.id, resolved.login) == (user.id, "alice")


def test_token_claims_and_session_row(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_SESSION_MAX_DAYS", "2")
    get_settings.cache_clear()
    user = make_user(session, role="admin")
    client = sessions.Client(ip="10.0.0.7", user_agent="Mozilla/5.0 test")
    token = sessions.issue(
        session, user=user, method="github", client=client, idle=timedelta(hours=1)
    )
    claims = jwt.decode(token, get_settings().resolved_secret_key(), algorithms=["HS256"])
    assert claims["sub"] == str(user.id)
    assert claims["roles"] == ["admin"]
    assert claims["permissions"] == ["admin", "metrics:view", "pipelines:manage", "read", "write"]
    assert claims["exp"] - claims["iat"] == 2 * 86400  # the absolute end
    with db.session_scope(database_url) as fresh:
        row = fresh.get(UserSession, claims["sid"])
        assert row is not None
        assert (row.user_id, row.method, row.ip, row.user_agent) == (
            user.id,
            "github",
            "10.0.0.7",
            "Mozilla/5.0 test",
        )
        assert row.revoked_at is None
        assert timedelta(minutes=59) < row.expires_at - utcnow() <= timedelta(hours=1)  # idle end
        assert fresh.get(User, user.id).last_login_at is not None


def test_a_session_in_use_slides_its_idle_end(session: Session, database_url: str) -> None:
    user = make_user(session)
    token = sessions.issue(session, user=user, idle=timedelta(minutes=30))
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    with db.session_scope(database_url) as fresh:
        row = fresh.get(UserSession, sid)
        row.last_seen_at = utcnow() - timedelta(minutes=20)
        row.expires_at = utcnow() + timedelta(minutes=10)
        fresh.add(row)
    assert resolve_fresh(database_url, token) is not None
    with db.session_scope(database_url) as fresh:
        row = fresh.get(UserSession, sid)
        # pushed to a full idle period (12 h by default) from now, and marked as seen now
        assert row.expires_at - utcnow() > timedelta(hours=11)
        assert utcnow() - row.last_seen_at < timedelta(minutes=1)
        assert fresh.get(User, user.id).last_seen_at == row.last_seen_at


def test_sliding_never_passes_the_absolute_end(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_SESSION_MAX_DAYS", "0.01")  # 14.4 minutes
    get_settings.cache_clear()
    user = make_user(session)
    token = sessions.issue(session, user=user, idle=timedelta(minutes=1))
    claims = jwt.decode(token, options={"verify_signature": False})
    with db.session_scope(database_url) as fresh:
        row = fresh.get(UserSession, claims["sid"])
        row.last_seen_at = utcnow() - timedelta(minutes=5)
        fresh.add(row)
    assert resolve_fresh(database_url, token) is not None
    with db.session_scope(database_url) as fresh:
        assert int(fresh.get(UserSession, claims["sid"]).expires_at.timestamp()) <= claims["exp"]


def test_expired_token_resolves_to_nobody_even_with_a_live_row(
    session: Session, database_url: str
) -> None:
    user = make_user(session)
    claims = jwt.decode(sessions.issue(session, user=user), options={"verify_signature": False})
    claims["exp"] = int(utcnow().timestamp()) - 5
    expired = jwt.encode(claims, get_settings().resolved_secret_key(), algorithm="HS256")
    assert resolve_fresh(database_url, expired) is None


def test_sign_out_everywhere_ends_every_session(session: Session, database_url: str) -> None:
    user = make_user(session)
    tokens = [sessions.issue(session, user=user) for _ in range(3)]
    assert sessions.revoke_all(session, user) == 3
    assert all(resolve_fresh(database_url, t) is None for t in tokens)
    assert resolve_fresh(database_url, sessions.issue(session, user=user)) is not None


def test_each_issue_creates_a_distinct_session(session: Session, database_url: str) -> None:
    user = make_user(session)
    first, second = sessions.issue(session, user=user), sessions.issue(session, user=user)
    assert first != second
    with db.session_scope(database_url) as fresh:
        assert len(fresh.exec(select(UserSession)).all()) == 2


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c"])
def test_missing_or_garbage_tokens_resolve_to_nobody(database_url: str, token: str | None) -> None:
    assert resolve_fresh(database_url, token) is None


def test_revoked_session_resolves_to_nobody(session: Session, database_url: str) -> None:
    user = make_user(session)
    token = sessions.issue(session, user=user)
    other = sessions.issue(session, user=user)
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    sessions.revoke(session, sid)
    assert resolve_fresh(database_url, token) is None
    assert resolve_fresh(database_url, other) is not None  # only that browser is signed out
    with db.session_scope(database_url) as fresh:
        assert fresh.get(UserSession, sid).revoked_at is not None


def test_revoking_twice_keeps_the_first_time(session: Session, database_url: str) -> None:
    user = make_user(session)
    sid = jwt.decode(sessions.issue(session, user=user), options={"verify_signature": False})["sid"]
    sessions.revoke(session, sid)
    with db.session_scope(database_url) as fresh:
        first = fresh.get(UserSession, sid).revoked_at
    sessions.revoke(session, sid)
    sessions.revoke(session, "no-such-session")
    with db.session_scope(database_url) as fresh:
        assert fresh.get(UserSession, sid).revoked_at == first


def test_expired_session_resolves_to_nobody(session: Session, database_url: str) -> None:
    user = make_user(session)
    token = sessions.issue(session, user=user, idle=timedelta(seconds=-1))
    assert resolve_fresh(database_url, token) is None


def test_session_row_expired_early_resolves_to_nobody(session: Session, database_url: str) -> None:
    """The row's expiry is authoritative even when the token's exp is still ahead."""
    user = make_user(session)
    token = sessions.issue(session, user=user)
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    with db.session_scope(database_url) as fresh:
        row = fresh.get(UserSession, sid)
        row.expires_at = utcnow() - timedelta(seconds=1)
        fresh.add(row)
    assert resolve_fresh(database_url, token) is None


def test_token_signed_with_another_key_resolves_to_nobody(
    session: Session, database_url: str
) -> None:
    user = make_user(session)
    genuine = sessions.issue(session, user=user)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = jwt.encode(claims, "x" * 48, algorithm="HS256")
    assert resolve_fresh(database_url, forged) is None
    assert resolve_fresh(database_url, genuine) is not None


def test_unsigned_token_resolves_to_nobody(session: Session, database_url: str) -> None:
    user = make_user(session)
    claims = jwt.decode(sessions.issue(session, user=user), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert resolve_fresh(database_url, unsigned) is None


def test_rotating_the_secret_key_signs_everyone_out(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_SECRET_KEY", "a" * 40)
    get_settings.cache_clear()
    token = sessions.issue(session, user=make_user(session))
    assert resolve_fresh(database_url, token) is not None
    monkeypatch.setenv("OPSSIGHT_SECRET_KEY", "b" * 40)
    get_settings.cache_clear()
    assert resolve_fresh(database_url, token) is None


def test_bumped_token_version_resolves_to_nobody(session: Session, database_url: str) -> None:
    user = make_user(session)
    token = sessions.issue(session, user=user)
    with db.session_scope(database_url) as fresh:
        stored = fresh.get(User, user.id)
        stored.token_version += 1
        fresh.add(stored)
    assert resolve_fresh(database_url, token) is None
    fresh_token = sessions.issue(session, user=resolve_user(database_url, user.id))
    assert resolve_fresh(database_url, fresh_token) is not None


def test_inactive_user_resolves_to_nobody(session: Session, database_url: str) -> None:
    user = make_user(session)
    token = sessions.issue(session, user=user)
    with db.session_scope(database_url) as fresh:
        stored = fresh.get(User, user.id)
        stored.is_active = False
        fresh.add(stored)
    assert resolve_fresh(database_url, token) is None


def test_token_naming_another_user_resolves_to_nobody(session: Session, database_url: str) -> None:
    alice, mallory = make_user(session, "alice"), make_user(session, "mallory")
    claims = jwt.decode(sessions.issue(session, user=alice), options={"verify_signature": False})
    claims["sub"] = str(mallory.id)
    tampered = jwt.encode(claims, get_settings().resolved_secret_key(), algorithm="HS256")
    assert resolve_fresh(database_url, tampered) is None


def test_save_theme_updates_the_user_and_audits_once(session: Session, database_url: str) -> None:
    user = make_user(session)
    choice = ThemePreference(variant="cyberpunk", mode="dark", hue=300)
    assert preferences.save_theme(session, user=user, preference=choice) is True

    with db.session_scope(database_url) as fresh:
        stored = fresh.get(User, user.id)
        assert (stored.theme_variant, stored.color_mode, stored.accent_hue) == (
            "cyberpunk",
            "dark",
            300,
        )
        assert preferences.theme_of(stored) == choice
        entries = fresh.exec(select(AuditLog)).all()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor_id, entry.actor_login) == (user.id, "alice")
    assert (entry.action, entry.target_type, entry.target_id) == (
        "user.theme",
        "user",
        str(user.id),
    )
    assert entry.before == {"variant": "minimal", "mode": "system", "hue": 210}
    assert entry.after == {"variant": "cyberpunk", "mode": "dark", "hue": 300}

    assert preferences.save_theme(session, user=user, preference=choice) is False
    with db.session_scope(database_url) as fresh:
        assert len(fresh.exec(select(AuditLog)).all()) == 1


def test_second_theme_change_audits_from_the_previous_choice(
    session: Session, database_url: str
) -> None:
    user = make_user(session)
    preferences.save_theme(session, user=user, preference=ThemePreference(mode="dark"))
    preferences.save_theme(session, user=user, preference=ThemePreference(mode="light"))
    with db.session_scope(database_url) as fresh:
        entries = fresh.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.before["mode"], e.after["mode"]) for e in entries] == [
        ("system", "dark"),
        ("dark", "light"),
    ]


def test_sign_in_works_with_a_blank_secret_key_in_demo(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSSIGHT_SECRET_KEY", "")
    get_settings.cache_clear()
    token = sessions.issue(session, user=make_user(session))
    assert resolve_fresh(database_url, token) is not None
