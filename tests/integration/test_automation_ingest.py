"""The ingest route with the callback's recorded batches (two real runs), on both databases:
redelivery never doubles rows, a late older batch never reopens a finished run, bad bodies get
precise statuses and store nothing; the queries the page reads; the demo feed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from opssight import db
from opssight.api import create_api
from opssight.demo import ansible as demo
from opssight.demo.recordings import load
from opssight.models import (
    AutomationHost,
    AutomationPlay,
    AutomationResult,
    AutomationRun,
    AutomationRunHost,
    AutomationTask,
)
from opssight.models.base import utcnow
from opssight.services.automation import ingest, queries
from tests.support import reset_caches

TOKEN = "ansible-ingest-token-for-tests-0123456789"
TABLES = (AutomationRun, AutomationPlay, AutomationTask, AutomationResult, AutomationRunHost)


@pytest.fixture
async def client(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("OPSSIGHT_ANSIBLE_TOKEN", TOKEN)
    monkeypatch.setenv("OPSSIGHT_ANSIBLE_MAX_BYTES", "100000")
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def recorded(kind: str) -> list[dict[str, Any]]:
    return json.loads(json.dumps(load(f"ansible.deploy.{kind}.jsonl")))


async def send(client: httpx.AsyncClient, body: bytes | dict[str, Any]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/api/automation/events", content=content, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def counts(url: str) -> dict[str, int]:
    with db.session_scope(url) as session:
        return {
            m.__tablename__: session.exec(select(func.count()).select_from(m)).one() for m in TABLES
        }


def only(url: str, model: type[SQLModel]) -> Any:
    with db.session_scope(url) as session:
        (row,) = session.exec(select(model)).all()
        return row


async def test_redelivered_batches_write_the_same_rows(client, database_url: str):
    batches = recorded("ok")
    for batch in batches:
        assert (await send(client, batch)).status_code == 200
    first = counts(database_url)
    assert first == {
        "automation_run": 1,
        "automation_play": 2,  # the web play ran in two serial batches: one play
        "automation_task": 7,  # 2 + 4 + a handler
        "automation_result": 17,
        "automation_run_host": 4,
    }
    for batch in batches:  # the spool sent again
        assert (await send(client, batch)).status_code == 200
    assert counts(database_url) == first
    run = only(database_url, AutomationRun)
    assert (run.status, run.name) == ("ok", "Migrate the shop database")
    assert run.extra_vars["deploy_token"] == "********"


async def test_an_older_batch_arriving_late_never_reopens_the_run(client, database_url: str):
    older, newer = recorded("ok"), recorded("failed")  # recorded in this order
    for batch in [*older, *newer]:
        assert (await send(client, batch)).status_code == 200
    assert (await send(client, newer[0])).status_code == 200  # a late first batch
    with db.session_scope(database_url) as session:
        run = session.get(AutomationRun, newer[0]["run"]["id"])
        assert run is not None and run.status == "failed" and run.ended_at is not None
        assert session.get(AutomationHost, "db-1").last_status == "failed"
    assert (await send(client, older[-1])).status_code == 200  # an older recap, again
    with db.session_scope(database_url) as session:
        host = session.get(AutomationHost, "db-1")
        assert (host.last_status, host.last_run_id) == ("failed", newer[0]["run"]["id"])


async def test_bad_bodies_get_precise_statuses_and_store_nothing(client, database_url: str):
    assert (await send(client, b"{not json")).status_code == 400
    answer = await send(client, {"version": 2})
    assert answer.status_code == 422 and "not an OpsSight Ansible batch" in answer.json()["detail"]
    assert (await send(client, b"x" * 100_001)).status_code == 413
    orphan = recorded("ok")[2]  # names a play and tasks sent in earlier batches
    answer = await send(client, orphan)
    assert answer.status_code == 422
    assert "never sent" in answer.json()["detail"]
    assert set(counts(database_url).values()) == {0}


async def test_the_page_queries_read_the_run_back(client, database_url: str):
    for kind in ("failed", "ok"):
        for batch in recorded(kind):
            await send(client, batch)
    with db.session_scope(database_url) as session:
        page = queries.list_runs(session, queries.RunFilter())
        assert [r.status for r in page.rows] == ["failed", "ok"]  # newest first
        assert queries.list_runs(session, queries.RunFilter(status="failed")).total == 1
        assert queries.list_runs(session, queries.RunFilter(search="SHOP")).total == 2
        failed = next(r for r in page.rows if r.status == "failed")
        assert (failed.hosts, failed.failed_hosts) == (1, 1)
        detail = queries.run_detail(session, failed.id)
        assert detail is not None and detail.hosts == ["db-1"]
        assert [(t.name, t.status) for t in detail.tasks] == [
            ("Run database migrations", "failed"),  # failed tasks first
            ("Check free disk space", "ok"),
        ]
        assert detail.tasks[0].cells[0].message == "non-zero return code"
        ok = queries.run_detail(session, page.rows[1].id)
        assert ok is not None and ok.hosts == ["db-1", "web-1", "web-2", "web-3"]
        warm = next(t for t in ok.tasks if t.name == "Warm the cache on canaries")
        assert [c.status for c in warm.cells] == ["", "ok", "skipped", "skipped"]
        card = queries.automation_card(session)
        assert (card.hosts, card.failing_hosts) == (4, 1)  # db-1: the failed run is newer


def test_the_demo_feed_replays_runs_through_the_ingest_service(session):
    feed = demo.Feed()
    now = utcnow()
    stored = feed(session, now)
    assert stored > 0
    runs = session.exec(select(AutomationRun)).all()
    assert len(runs) == len(demo.slots(now - demo.HISTORY, now))
    assert {r.status for r in runs} == {"ok", "failed"}
    assert all(r.is_demo and r.started_at <= now for r in runs)
    assert feed(session, now) == 0  # nothing new is due
    assert feed(session, now + timedelta(minutes=30)) in (4, 16)  # the next slot's run
    again = demo.Feed()(session, now)  # a restart sends the same runs: no copies
    assert again == stored
    assert len(session.exec(select(AutomationRun)).all()) == len(runs) + 1


def test_the_demo_runs_go_when_demo_data_is_turned_off(session):
    runs = demo.Feed()(session, utcnow())
    assert runs > 0 and session.exec(select(AutomationHost)).all()
    assert ingest.forget_demo(session) == len(demo.slots(utcnow() - demo.HISTORY, utcnow()))
    for model in (AutomationRun, AutomationPlay, AutomationTask, AutomationResult, AutomationHost):
        assert session.exec(select(model)).all() == []
