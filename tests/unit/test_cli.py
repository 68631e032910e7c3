"""``opssight run`` / ``migrate`` / ``set-password`` as a person runs them: a subprocess, a clean
env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import opssight.models  # noqa: F401  (every table on SQLModel.metadata)
from opssight import db
from opssight.services.auth import passwords, sessions
from tests.support import free_port


def clean_env(tmp_path: Path, **opssight: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")}
    env["OPSSIGHT_DATA_DIR"] = str(tmp_path / "data")
    env.update({f"OPSSIGHT_{k}": v for k, v in opssight.items()})
    return env


def opssight_cli(tmp_path: Path, *args: str, **opssight: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opssight.cli", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **opssight),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess, variable: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    assert variable in lines[0]
    assert lines[0].startswith("opssight: ")


@pytest.mark.parametrize("url", ["mysql://nope", "not a url"])
def test_run_refuses_a_bad_database_url(tmp_path: Path, url: str) -> None:
    result = opssight_cli(tmp_path, "run", DATABASE_URL=url)
    assert_one_line_naming(result, "OPSSIGHT_DATABASE_URL")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "starting on" not in result.stdout


def test_run_refuses_an_unreachable_redis(tmp_path: Path) -> None:
    result = opssight_cli(
        tmp_path,
        "run",
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    assert_one_line_naming(result, "OPSSIGHT_REDIS_URL")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "OPSSIGHT_DATABASE_URL" not in result.stderr


def test_run_refuses_an_unreachable_postgres(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    result = opssight_cli(tmp_path, "run", DATABASE_URL=url)
    assert_one_line_naming(result, "OPSSIGHT_DATABASE_URL")


def test_unreachable_postgres_is_reported_on_one_line(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    result = opssight_cli(tmp_path, "run", DATABASE_URL=url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    db_path = tmp_path / "migrated.db"
    result = opssight_cli(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{db_path}")
    assert result.returncode == 0, result.stderr
    assert "newest revision" in result.stdout
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrate_twice_succeeds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    assert opssight_cli(tmp_path, "migrate", DATABASE_URL=url).returncode == 0
    again = opssight_cli(tmp_path, "migrate", DATABASE_URL=url)
    assert again.returncode == 0, again.stderr


def test_migrate_refuses_a_bad_database_url(tmp_path: Path) -> None:
    result = opssight_cli(tmp_path, "migrate", DATABASE_URL="mysql://nope")
    assert_one_line_naming(result, "OPSSIGHT_DATABASE_URL")


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = opssight_cli(tmp_path, "serve")
    assert result.returncode == 2
    assert "usage: opssight" in result.stderr


def set_password(tmp_path: Path, login: str, stdin: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opssight.cli", "set-password", login],
        cwd=tmp_path,
        env=clean_env(tmp_path, DATABASE_URL=url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_set_password_from_stdin_then_it_signs_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert opssight_cli(tmp_path, "migrate", DATABASE_URL=url).returncode == 0
    with db.session_scope(url) as session:
        admin = passwords.create_admin(session, login="admin", password="the lost one")
        token = sessions.issue(session, user=admin)

    weak = set_password(tmp_path, "admin", "too short\n", url)
    assert_one_line_naming(weak, "at least 12 characters")
    result = set_password(tmp_path, "admin", "a new admin passphrase\n", url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "opssight: new password set for admin; sessions ended: 1"
    )
    assert "a new admin passphrase" not in result.stdout + result.stderr
    with db.session_scope(url) as session:  # the real sign-in check, and the old session ended
        signed_in = passwords.authenticate(
            session, login="admin", password="a new admin passphrase", ip="::1"
        )
        assert signed_in.id == admin.id
        with pytest.raises(passwords.LoginRefused):
            passwords.authenticate(session, login="admin", password="the lost one", ip="::1")
        assert sessions.resolve(session, token) is None
    db.get_engine(url).dispose()


def test_set_password_refuses_an_unknown_login_and_an_empty_stdin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert_one_line_naming(
        set_password(tmp_path, "nobody", "a new admin passphrase\n", url), "'nobody'"
    )
    assert_one_line_naming(set_password(tmp_path, "admin", "", url), "no password on stdin")
