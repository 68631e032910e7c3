"""Real ansible-core runs playbooks on localhost with the shipped callback against OpsSight's API
served over HTTP; the stored rows are compared with what Ansible itself printed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ansible.release import __version__ as ANSIBLE_VERSION
from sqlmodel import SQLModel, select

from opssight import db
from opssight.models import (
    AutomationHost,
    AutomationPlay,
    AutomationResult,
    AutomationRun,
    AutomationRunGroup,
    AutomationRunHost,
    AutomationTask,
    ConnectorStatus,
    User,
)
from opssight.services.automation import tokens
from tests.ansible_run import PLAYBOOKS, TOKEN, ansible_playbook
from tests.api_server import ApiServer

RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.M,
)


@pytest.fixture
def opssight_api(database_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(
        {
            "OPSSIGHT_DATABASE_URL": database_url,
            "OPSSIGHT_ANSIBLE_TOKEN": TOKEN,
            "OPSSIGHT_LOG_JSON": "false",
            "OPSSIGHT_DATA_DIR": str(tmp_path / "server-data"),
        },
        tmp_path / "server.log",
    )
    server.start()
    yield server
    server.stop()


def rows(database_url: str, model: type[SQLModel]) -> list[Any]:
    with db.session_scope(database_url) as session:
        return list(session.exec(select(model)))


def spooled(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "spool"
    return sorted(folder.glob("*.json")) if folder.exists() else []


def recap(stdout: str) -> dict[str, dict[str, int]]:
    return {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        for m in RECAP.finditer(stdout)
    }


def test_rows_match_what_ansible_did(opssight_api: ApiServer, database_url: str, tmp_path: Path):
    done = ansible_playbook(tmp_path, opssight_api.url, "site.yml")
    assert done.returncode == 2, done.stdout + done.stderr  # web-1 failed
    assert "OpsSight" not in done.stderr  # every batch was accepted: no warning

    (run,) = rows(database_url, AutomationRun)
    assert run.playbook == str(PLAYBOOKS / "site.yml")
    assert run.name == "Configure the web tier"
    assert run.status == "failed"
    assert run.ansible_version == ANSIBLE_VERSION
    assert run.check_mode is False
    assert run.user and run.controller
    assert run.ended_at is not None and run.duration_s and run.duration_s > 0
    assert run.extra_vars == {"marker_dir": str(tmp_path / "markers"), "db_password": "********"}
    assert "hunter2" not in str(run.arguments)

    (play,) = rows(database_url, AutomationPlay)
    assert (play.name, play.pattern) == ("Configure the web tier", "web")
    tasks = sorted(rows(database_url, AutomationTask), key=lambda t: t.position)
    assert [(t.name, t.handler) for t in tasks] == [
        ("Say hello", False),
        ("Write a marker file", False),
        ("Only on web-2", False),
        ("Check the config directory", False),
        ("Finish", False),
        ("Announce the marker", True),
    ]
    assert tasks[1].action == "ansible.builtin.copy"
    assert tasks[3].path.endswith("site.yml:23")
    names = {t.id: t.name for t in tasks}
    results = {(names[r.task_id], r.host): r for r in rows(database_url, AutomationResult)}
    assert {k: r.status for k, r in results.items()} == {
        ("Say hello", "web-1"): "ok",
        ("Say hello", "web-2"): "ok",
        ("Write a marker file", "web-1"): "changed",
        ("Write a marker file", "web-2"): "changed",
        ("Only on web-2", "web-1"): "skipped",
        ("Only on web-2", "web-2"): "ok",
        ("Check the config directory", "web-1"): "failed",
        ("Check the config directory", "web-2"): "skipped",
        ("Finish", "web-2"): "ok",  # web-1 stopped at its failure
        ("Announce the marker", "web-2"): "ok",  # handlers of failed hosts do not run
    }
    failed = results[("Check the config directory", "web-1")]
    assert failed.message.startswith("non-zero return code")
    assert "/nonexistent-opssight-config" in failed.message  # the command's stderr
    assert results[("Say hello", "web-1")].message == "hello from web-1"
    assert results[("Only on web-2", "web-1")].message == "Conditional result was False"
    assert {t.name: t.status for t in tasks}["Check the config directory"] == "failed"

    printed = recap(done.stdout)
    stored = {
        h.host: {
            "ok": h.ok, "changed": h.changed, "unreachable": h.unreachable, "failed": h.failed,
            "skipped": h.skipped,
        }
        for h in rows(database_url, AutomationRunHost)
    }  # fmt: skip
    assert (
        stored
        == printed
        == {
            "web-1": {"ok": 2, "changed": 1, "unreachable": 0, "failed": 1, "skipped": 1},
            "web-2": {"ok": 5, "changed": 1, "unreachable": 0, "failed": 0, "skipped": 1},
        }
    )
    assert {g.group for g in rows(database_url, AutomationRunGroup)} == {"all", "web"}
    hosts = {h.name: h.last_status for h in rows(database_url, AutomationHost)}
    assert hosts == {"web-1": "failed", "web-2": "changed"}
    (connector,) = rows(database_url, ConnectorStatus)
    assert (connector.name, connector.state) == ("ansible", "ok")


def test_with_opssight_down_the_playbook_ends_alike_and_the_spool_arrives_later(
    opssight_api: ApiServer, database_url: str, tmp_path: Path
):
    opssight_api.stop()
    done = ansible_playbook(tmp_path, opssight_api.url, "site.yml")
    assert done.returncode == 2  # what the same playbook exits with when OpsSight is up
    assert "PLAY RECAP" in done.stdout
    assert "cannot take events now" in done.stderr
    assert len(spooled(tmp_path)) >= 3
    assert rows(database_url, AutomationRun) == []

    opssight_api.start()
    again = ansible_playbook(tmp_path, opssight_api.url, "ok.yml", "--check")
    assert again.returncode == 0, again.stdout + again.stderr
    assert spooled(tmp_path) == []
    runs = {r.name: r for r in rows(database_url, AutomationRun)}
    assert runs["Configure the web tier"].status == "failed"
    assert runs["Check the web tier"].status == "ok"
    assert runs["Check the web tier"].check_mode is True
    by_run: dict[str, int] = {}
    for result in rows(database_url, AutomationResult):
        by_run[result.run_id] = by_run.get(result.run_id, 0) + 1
    assert by_run == {runs["Configure the web tier"].id: 10, runs["Check the web tier"].id: 2}


def test_the_spool_is_bounded(opssight_api: ApiServer, database_url: str, tmp_path: Path):
    opssight_api.stop()
    limit = 0.002  # MB: about one batch
    done = ansible_playbook(
        tmp_path, opssight_api.url, "site.yml", OPSSIGHT_ANSIBLE_SPOOL_MAX_MB=str(limit)
    )
    assert done.returncode == 2
    assert "oldest batch(es) dropped" in done.stderr
    assert sum(p.stat().st_size for p in spooled(tmp_path)) <= limit * 1024 * 1024


def test_a_forged_token_gets_401_and_nothing_is_stored(
    opssight_api: ApiServer, database_url: str, tmp_path: Path
):
    body = (PLAYBOOKS / "site.yml").read_bytes()  # never parsed: refused before
    for header in ({}, {"Authorization": "Bearer forged-token"}, {"Authorization": TOKEN}):
        answer = httpx.post(f"{opssight_api.url}/api/automation/events", content=body,
                            headers=header)  # fmt: skip
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    done = ansible_playbook(tmp_path, opssight_api.url, "ok.yml", token="forged-token")
    assert done.returncode == 0
    assert "HTTP 401" in done.stderr
    assert rows(database_url, AutomationRun) == []
    assert spooled(tmp_path)  # kept: a fixed token sends them later


def test_an_issued_token_is_accepted_until_revoked(
    opssight_api: ApiServer, database_url: str, tmp_path: Path
):
    with db.session_scope(database_url) as session:
        admin = User(login="root-admin", role="admin")
        session.add(admin)
        session.commit()
        row, plaintext = tokens.create(session, name="ci runners", actor=admin)
    assert row.token_hash == tokens.digest(plaintext) and plaintext not in row.token_hash
    done = ansible_playbook(tmp_path, opssight_api.url, "ok.yml", token=plaintext)
    assert done.returncode == 0 and "OpsSight" not in done.stderr
    assert len(rows(database_url, AutomationRun)) == 1
    with db.session_scope(database_url) as session:
        assert tokens.list_tokens(session)[0].last_used_at is not None
        tokens.revoke(session, row.id, actor=session.get(User, admin.id))
    again = ansible_playbook(tmp_path, opssight_api.url, "ok.yml", token=plaintext)
    assert "HTTP 401" in again.stderr
    assert len(rows(database_url, AutomationRun)) == 1
