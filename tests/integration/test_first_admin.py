"""First start without ``OPSSIGHT_ADMIN_PASSWORD``: one admin with a random password, shown once
on the console and kept owner-only in the data folder; never when someone can administer."""

from __future__ import annotations

import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import text
from sqlmodel import select

from opssight import db
from opssight.config import get_settings
from opssight.jobs import runner
from opssight.models import User
from opssight.services.auth import first_admin, passwords, sessions
from tests.api_server import ApiServer
from tests.support import reset_caches

BOX_PASSWORD = re.compile(r"^\|\s+Password\s+(\S+)\s+\|$", re.MULTILINE)


def admins() -> list[User]:
    with db.session_scope() as session:
        return list(session.exec(select(User).where(User.role == "admin")))


def password_file() -> Path:
    return get_settings().data_dir.absolute() / "initial-admin-password"


def first_start(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict]]:
    """One worker's start: what it printed, and every structured log event it made."""
    with structlog.testing.capture_logs() as events:
        runner._prepare()
    return capsys.readouterr().err, events


def test_first_start_makes_one_admin_with_the_saved_password(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    printed, events = first_start(capsys)

    (admin,) = admins()
    assert admin.login == "admin" and admin.is_active
    path = password_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 24
    assert BOX_PASSWORD.findall(printed) == [password]
    assert "http://localhost:3000/login" in printed
    assert str(path) in printed
    with db.session_scope() as session:  # the real sign-in check
        signed_in = passwords.authenticate(session, login="admin", password=password, ip="::1")
        assert signed_in.id == admin.id
    assert [e["event"] for e in events] == ["auth.admin_generated"]
    assert all(password not in repr(event) for event in events)  # never in the structured log


def test_a_later_start_creates_nothing_and_keeps_the_password(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first_start(capsys)
    (before,) = admins()
    saved = password_file().read_text()

    printed, events = first_start(capsys)  # a second worker, or a restart

    (after,) = admins()
    assert (after.id, after.password_hash) == (before.id, before.password_hash)
    assert password_file().read_text() == saved
    assert printed == ""
    assert events == []


def test_nothing_is_generated_with_the_admin_password_set(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSSIGHT_ADMIN_PASSWORD", "correct horse battery staple")
    reset_caches()

    printed, _ = first_start(capsys)

    (admin,) = admins()
    assert passwords.check_password("correct horse battery staple", admin.password_hash)
    assert not password_file().exists()
    assert printed == ""


def test_nothing_is_generated_while_someone_administers(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with db.session_scope() as session:
        session.add(User(login="mona", github_id=583231, role="admin"))

    printed, _ = first_start(capsys)

    assert [u.login for u in admins()] == ["mona"]
    assert not password_file().exists()
    assert printed == ""


def test_a_disabled_admin_does_not_count(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with db.session_scope() as session:
        session.add(User(login="mona", github_id=583231, role="admin", is_active=False))

    printed, _ = first_start(capsys)

    assert sorted(u.login for u in admins()) == ["admin", "mona"]
    assert BOX_PASSWORD.findall(printed) == [password_file().read_text().strip()]


def test_a_taken_login_is_left_alone(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with db.session_scope() as session:  # a GitHub account called "admin", not an admin
        session.add(User(login="admin", github_id=1, role="viewer"))

    printed, events = first_start(capsys)

    assert admins() == []
    assert not password_file().exists()
    assert printed == ""
    assert [e["event"] for e in events] == ["auth.admin_login_taken"]


def test_a_data_folder_that_cannot_be_written_still_shows_the_password(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("OPSSIGHT_DATA_DIR", str(tmp_path / "a-file" / "data"))
    reset_caches()

    printed, events = first_start(capsys)

    (password,) = BOX_PASSWORD.findall(printed)
    assert "shown only this once" in printed
    (admin,) = admins()
    assert passwords.check_password(password, admin.password_hash)
    assert [e["event"] for e in events] == ["auth.admin_password_not_saved", "auth.admin_generated"]


def test_the_public_url_is_the_one_printed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSSIGHT_PUBLIC_URL", "https://opssight.example.com")
    reset_caches()
    printed, _ = first_start(capsys)
    assert "Sign in at  https://opssight.example.com/login " in printed


def test_the_file_is_pointed_at_until_the_admin_signs_in(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first_start(capsys)
    data_dir = get_settings().data_dir
    with db.session_scope() as session:
        assert first_admin.unclaimed_file(session, login="admin", data_dir=data_dir) == (
            password_file()
        )
        password = password_file().read_text().strip()
        admin = passwords.authenticate(session, login="admin", password=password, ip="::1")
        sessions.issue(session, user=admin)
        assert first_admin.unclaimed_file(session, login="admin", data_dir=data_dir) is None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_racing_workers_make_one_admin(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another worker's insert is in flight (not committed) when this one starts: this one's
    insert waits on the login's unique index, then loses, and shows and saves nothing."""
    theirs = "the other worker's password"
    with ThreadPoolExecutor(1) as pool, db.session_scope() as other:
        other.add(User(login="admin", role="admin", password_hash=passwords.hash_password(theirs)))
        other.flush()
        mine = pool.submit(first_start, capsys)
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(database_url):
            assert not mine.done(), mine.result()
            assert time.monotonic() < deadline, "the second insert never waited"
            time.sleep(0.05)
    printed, _ = mine.result(timeout=30)

    (admin,) = admins()
    assert passwords.check_password(theirs, admin.password_hash)
    assert not password_file().exists()
    assert printed == ""


def _waiting_on_a_lock(url: str) -> bool:
    with db.get_engine(url).connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return waiting.scalar_one() > 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_print_one_password_once(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The real server (two granian workers, each running the app's start-up): one box in its
    output, nowhere in its JSON log lines; the password signs in; a restart prints nothing."""
    env = {
        "OPSSIGHT_DATABASE_URL": database_url,
        "OPSSIGHT_REDIS_URL": redis_url,
        "OPSSIGHT_DATA_DIR": str(tmp_path / "server-data"),
        "OPSSIGHT_DEMO": "0",
        # no compiling, and nothing written to the end-to-end tests' shared .web build
        "__REFLEX_SKIP_COMPILE": "true",
        "REFLEX_WEB_WORKDIR": str(tmp_path / "web"),
    }
    server = ApiServer(env, tmp_path / "server.log", app="opssight.opssight:app", workers=2)
    try:
        first = _start_both_workers(server)
        (password,) = BOX_PASSWORD.findall(first)
        saved = tmp_path / "server-data" / "initial-admin-password"
        assert saved.read_text().strip() == password
        assert '"event": "auth.admin_generated"' in first
        (line,) = [line for line in first.splitlines() if password in line]  # the box's, only
        assert line.startswith("|")
        form = {"login": "admin", "password": password, "next": "/settings/connections"}
        signed_in = httpx.post(f"{server.url}/api/auth/login", data=form)
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/settings/connections"
        assert sessions.COOKIE_NAME in signed_in.cookies
    finally:
        server.stop()
    try:
        again = _start_both_workers(server)
    finally:
        server.stop()
    assert "first start" not in again
    (admin,) = admins()
    assert passwords.check_password(password, admin.password_hash)


def _start_both_workers(server: ApiServer) -> str:
    """Start the server and wait until both workers finished their start-up (granian says
    "Started worker-N" after the app's lifespan start); what it printed meanwhile."""
    offset = len(server.log.read_text()) if server.log.exists() else 0
    server.start()
    deadline = time.monotonic() + 60
    while (printed := server.log.read_text()[offset:]).count("] Started worker-") < 2:
        assert time.monotonic() < deadline, printed[-3000:]
        time.sleep(0.1)
    return printed
