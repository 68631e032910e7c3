"""The webhook writer (group commit): concurrency, de-duplication, guards, failures, recovery.

Recorded payloads only (ids and timestamps changed where a test needs more versions). PostgreSQL
tests use the batch writer; the ones on ``database_url`` run on SQLite (one delivery per
transaction in a thread) too, with the same answers and rows.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlmodel import SQLModel, select

from opssight import db
from opssight.api import create_api
from opssight.events import RedisBus, get_bus
from opssight.models import (
    Deployment,
    DeploymentStatus,
    Incident,
    PullRequest,
    Repository,
    WebhookDelivery,
    WorkflowJob,
    WorkflowRun,
)
from opssight.services import ingest_writer, webhooks
from opssight.services.ingest_writer import BatchWriter, WriterUnavailable
from tests.integration.test_github_webhooks import (
    JOB_COMPLETED,
    SECRET,
    WEBHOOKS,
    deliver,
    payload,
    same_job,
)
from tests.support import free_port, reset_caches

TABLES: tuple[type[SQLModel], ...] = (
    WebhookDelivery, Repository, WorkflowRun, WorkflowJob, PullRequest, Deployment,
    DeploymentStatus, Incident,
)  # fmt: skip
INGESTED = {"workflow_run", "workflow_job", "pull_request", "deployment", "deployment_status",
            "push", "ping", "issues"}  # fmt: skip
RUN = "pkg-pr-new.pr.workflow_run.completed.json"


def recorded(name: str) -> dict[str, Any]:
    return json.loads(payload(name))


def event_of(name: str) -> str:
    data = json.loads((WEBHOOKS / name).read_text())
    return data["event"] if set(data) == {"event", "payload"} else name.split(".")[1]


def run_version(run_id: int, name: str = RUN) -> bytes:
    """A recorded workflow_run delivery about another run."""
    body = recorded(name)
    body["workflow_run"]["id"] = run_id
    return json.dumps(body).encode()


def delivery(delivery_id: str, event: str, body: dict[str, Any]) -> webhooks.Delivery:
    parsed = webhooks.validate(event, body)
    assert parsed is not None
    return webhooks.prepare(delivery_id, event, parsed, datetime(2026, 1, 1, tzinfo=UTC))


def count(url: str, model: type[SQLModel]) -> int:
    with db.session_scope(url) as session:
        return len(session.exec(select(model)).all())


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored row (but the receive time and generated ids), in natural key order."""
    tables = {}
    with db.session_scope(url) as session:
        for model in TABLES:
            keys = [c.name for c in model.__table__.primary_key.columns]
            exclude = {"received_at"}
            if model is Incident:
                keys, exclude = ["source", "key"], {"id"}
            rows = [row.model_dump(exclude=exclude) for row in session.exec(select(model))]
            tables[model.__tablename__] = sorted(rows, key=lambda r: [r[k] for k in keys])
    return tables


def truncate(url: str) -> None:
    with db.session_scope(url) as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.exec(table.delete())


@pytest.fixture
def pg_url(migrated_postgres: str, monkeypatch: pytest.MonkeyPatch) -> str:
    truncate(migrated_postgres)
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", migrated_postgres)
    reset_caches()
    return migrated_postgres


def _client(monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    monkeypatch.setenv("OPSSIGHT_GITHUB_WEBHOOK_SECRET", SECRET)
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(database_url: str, monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(monkeypatch) as http:
        yield http
    await ingest_writer.close_writers()


@pytest.fixture
async def pg_client(pg_url: str, monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(monkeypatch) as http:
        yield http
    await ingest_writer.close_writers()


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection]:
    """A second connection to the test database (locks, killing the writer's backend)."""
    with psycopg.connect(ingest_writer.conninfo(pg_url), autocommit=True) as connection:
        yield connection


# ---------- through the route, on both databases ----------


async def test_many_concurrent_deliveries_are_each_answered_after_their_commit(
    client: httpx.AsyncClient, database_url: str
):
    """200 at once: 150 distinct deliveries (120 runs, some run twice) and 50 redeliveries."""
    distinct = [(f"c-{i}", run_version(7_000_000 + i % 120)) for i in range(150)]
    redelivered = [distinct[i * 3] for i in range(50)]
    sent = distinct + redelivered
    random.Random(7).shuffle(sent)
    committed_when_answered: list[bool] = []

    async def send(delivery_id: str, body: bytes) -> httpx.Response:
        response = await deliver(client, "workflow_run", body, delivery=delivery_id)
        with db.session_scope(database_url) as session:  # visible from another connection now
            committed_when_answered.append(session.get(WebhookDelivery, delivery_id) is not None)
        return response

    responses = await asyncio.gather(*(send(d, body) for d, body in sent))
    assert {r.status_code for r in responses} == {200}
    results = [r.json()["result"] for r in responses]
    assert results.count("stored") == 150 and results.count("duplicate") == 50
    stored_ids = {d for (d, _), r in zip(sent, results, strict=True) if r == "stored"}
    assert stored_ids == {d for d, _ in distinct}
    assert all(committed_when_answered)
    assert count(database_url, WebhookDelivery) == 150
    assert count(database_url, WorkflowRun) == 120
    assert count(database_url, Repository) == 1
    if not database_url.startswith("sqlite"):
        writer = ingest_writer.get_writer()
        assert isinstance(writer, BatchWriter) and writer.batches < 150  # commits were shared


async def test_out_of_order_versions_sent_together_keep_the_newest(
    client: httpx.AsyncClient, database_url: str
):
    versions = [  # newest last in time, sent in every order, all at once
        "pkg-pr-new.pr.workflow_run.completed.json",
        "pkg-pr-new.pr.workflow_run.requested.json",
    ]
    jobs = [
        JOB_COMPLETED,
        "octokit.workflow_job.in_progress.payload.json",
        "octokit.workflow_job.queued.payload.json",
    ]
    sends = [deliver(client, "workflow_run", payload(name)) for name in versions]
    sends += [deliver(client, "workflow_job", same_job(name)) for name in jobs]
    responses = await asyncio.gather(*sends)
    assert [r.json()["result"] for r in responses] == ["stored"] * 5
    [run] = snapshot(database_url)["workflow_run"]
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    [job] = snapshot(database_url)["workflow_job"]
    assert (job["status"], job["conclusion"]) == ("completed", "success")
    # an older version arriving in a later batch does not roll back either
    again = await deliver(client, "workflow_run", payload(versions[1]))
    assert again.json()["result"] == "stored"
    assert snapshot(database_url)["workflow_run"] == [run]


# ---------- the batch path leaves exactly the rows of the one-by-one path ----------


def mixed_deliveries(seed: int) -> list[webhooks.Delivery]:
    """Every recorded event we ingest, extra statuses of one deployment, redeliveries, shuffled."""
    rng = random.Random(seed)
    items: list[tuple[str, str, dict[str, Any]]] = []
    for path in sorted(WEBHOOKS.glob("*.json")):
        if event_of(path.name) in INGESTED:
            items.append((f"rec-{path.name[:40]}", event_of(path.name), recorded(path.name)))
    status = recorded("octokit.deployment_status.payload.json")
    for step, (state, minute) in enumerate(
        [("pending", 10), ("in_progress", 12), ("success", 14), ("failure", 30), ("success", 16)]
    ):
        body = copy.deepcopy(status)
        body["deployment_status"]["id"] += step + 1
        body["deployment_status"]["state"] = state
        body["deployment_status"]["created_at"] = f"2019-05-15T15:{minute}:00Z"
        body["deployment"]["environment"] = f"env-{step}"  # which copy wins depends on order
        body["repository"]["default_branch"] = f"branch-{step}"
        items.append((f"status-{step}", "deployment_status", body))
    later = recorded("octokit.deployment.payload.json")  # after its statuses: keeps the summary
    later["deployment"]["environment"] = "later"
    items.append(("deployment-later", "deployment", later))
    items += issue_versions()
    items += [rng.choice(items) for _ in range(12)]  # redeliveries (same id, same body)
    rng.shuffle(items)
    return [delivery(d, event, body) for d, event, body in items]


def issue_versions() -> list[tuple[str, str, dict[str, Any]]]:
    """Versions of three incident issues: labelled, closed, reopened, unlabelled, deleted; two
    with equal ``updated_at`` (the last of equals wins, as one by one)."""
    items = []
    steps = [  # (issue, action, minute updated, labelled, closed)
        (1, "labeled", 10, True, False), (1, "closed", 20, True, True),
        (1, "reopened", 30, True, False), (1, "unlabeled", 40, False, False),
        (2, "labeled", 10, True, False), (2, "closed", 25, True, True),
        (3, "labeled", 10, True, False), (3, "edited", 15, True, False),
        (3, "deleted", 15, True, False),
    ]  # fmt: skip
    for n, (issue_id, action, minute, labelled, closed) in enumerate(steps):
        body = recorded("octokit.issues.unlabeled.payload.json" if action == "unlabeled"
                        else "octokit.issues.labeled.payload.json")  # fmt: skip
        issue = body["issue"]
        issue["id"] += issue_id
        issue["labels"][0]["name"] = "incident" if labelled else "bug"
        issue["updated_at"] = f"2019-05-15T16:{minute:02}:00Z"
        issue["state"] = "closed" if closed else "open"
        issue["closed_at"] = issue["updated_at"] if closed else None
        issue["title"] = f"version {n}"  # which copy wins depends on order
        body.update(action=action, label={**body["label"], "name": "incident"})
        items.append((f"issue-{n}", "issues", body))
    return items


@pytest.mark.parametrize(("seed", "max_batch"), [(1, 500), (2, 500), (3, 4), (4, 1)])
async def test_a_batch_leaves_the_rows_one_by_one_would(pg_url: str, seed: int, max_batch: int):
    deliveries = mixed_deliveries(seed)
    one_by_one = []
    for item in deliveries:
        with db.session_scope(pg_url) as session:
            one_by_one.append(webhooks.store(session, item))
    expected = snapshot(pg_url)
    truncate(pg_url)

    writer = BatchWriter(pg_url, max_batch=max_batch, lanes=1)  # one commit order
    try:
        batched = await asyncio.gather(*(writer.submit(item) for item in deliveries))
    finally:
        await writer.aclose()
    assert batched == one_by_one
    assert snapshot(pg_url) == expected
    assert writer.batches == -(-len(deliveries) // max_batch)
    first, second = expected["incident"][:2]
    assert (first["counted"], first["resolved_at"]) == (False, None)  # reopened, unlabelled
    assert second["counted"] and second["resolved_at"].isoformat().startswith("2019-05-15T16:25")
    deployment = expected["deployment"][0]
    assert deployment["state"] == "failure"
    assert deployment["succeeded_at"].isoformat().startswith("2019-05-15T15:14")


async def test_batches_in_flight_at_once_keep_every_guarantee(pg_url: str):
    """Three connections writing at once: 40 runs, each sent as its requested and completed
    versions (in both orders) and redelivered; nothing lost, doubled or rolled back."""
    requested = recorded("pkg-pr-new.pr.workflow_run.requested.json")
    completed = recorded(RUN)
    items = []
    for run in range(40):
        for name, body in (("requested", requested), ("completed", completed)):
            version = copy.deepcopy(body)
            version["workflow_run"]["id"] = 5_000_000 + run
            items.append(delivery(f"{name}-{run}", "workflow_run", version))
    sent = items + random.Random(3).sample(items, 30)
    random.Random(4).shuffle(sent)
    writer = BatchWriter(pg_url, max_batch=7, lanes=3)
    try:
        outcomes = await asyncio.gather(*(writer.submit(item) for item in sent))
    finally:
        await writer.aclose()
    stored = [item.id for item, outcome in zip(sent, outcomes, strict=True) if outcome == "stored"]
    assert sorted(stored) == sorted(item.id for item in items)
    assert outcomes.count("duplicate") == 30
    runs = snapshot(pg_url)["workflow_run"]
    assert len(runs) == 40 and {r["status"] for r in runs} == {"completed"}
    assert count(pg_url, WebhookDelivery) == 80


async def test_redeliveries_within_and_across_batches_are_acknowledged_once(pg_url: str):
    writer = BatchWriter(pg_url)
    body = json.loads(run_version(42))
    try:
        first = await asyncio.gather(*(writer.submit(delivery("same", "workflow_run", body))
                                       for _ in range(5)))  # fmt: skip
        later = await writer.submit(delivery("same", "workflow_run", body))
    finally:
        await writer.aclose()
    assert first == ["stored"] + ["duplicate"] * 4 and later == "duplicate"
    assert count(pg_url, WebhookDelivery) == 1 and count(pg_url, WorkflowRun) == 1


async def test_one_event_per_row_key_is_published_after_the_commit(pg_url: str):
    writer = BatchWriter(pg_url)
    body = json.loads(run_version(77))
    try:
        async with get_bus().subscribe("pipelines") as subscription:
            outcomes = await asyncio.gather(
                *(writer.submit(delivery(f"e-{i}", "workflow_run", body)) for i in range(20))
            )
            event = await asyncio.wait_for(subscription.queue.get(), timeout=2)
            await asyncio.sleep(0.2)
            assert subscription.queue.empty()
    finally:
        await writer.aclose()
    assert outcomes == ["stored"] * 20 and writer.batches == 1
    assert event.keys == {"repo": body["repository"]["full_name"], "run_id": "77"}


async def test_with_redis_events_are_published_off_the_event_loop(
    pg_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
):
    """The Redis bus does network I/O: the writer hands it to its publishing thread."""
    monkeypatch.setenv("OPSSIGHT_REDIS_URL", redis_url)
    reset_caches()
    bus = get_bus()
    assert isinstance(bus, RedisBus)
    writer = BatchWriter(pg_url)
    run_id = random.randrange(10**9, 10**10)  # the shared Redis may carry other runs' events
    body = json.loads(run_version(run_id))
    try:
        async with bus.subscribe("pipelines") as subscription:
            await writer.submit(delivery(f"r-{run_id}", "workflow_run", body))
            while (event := await asyncio.wait_for(subscription.queue.get(), 5)).keys.get(
                "run_id"
            ) != str(run_id):
                pass
        assert writer._publisher is not None
    finally:
        await writer.aclose()
        await bus.aclose()
        bus._client.close()
    assert event.keys["repo"] == body["repository"]["full_name"]


# ---------- failures: nothing half-stored, the writer carries on ----------


async def test_an_unreachable_database_fails_the_callers(pg_url: str):
    writer = BatchWriter(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    body = json.loads(run_version(1))
    try:
        results = await asyncio.gather(
            *(writer.submit(delivery(f"u-{i}", "workflow_run", body)) for i in range(3)),
            return_exceptions=True,
        )
    finally:
        await writer.aclose()
    assert all(isinstance(r, WriterUnavailable) for r in results)
    assert count(pg_url, WebhookDelivery) == 0


async def test_unreachable_database_answers_503(pg_client, monkeypatch):
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", closed)
    reset_caches()
    response = await deliver(pg_client, "workflow_run", run_version(5))
    assert response.status_code == 503 and response.json()["result"] == "unavailable"
    assert response.headers["retry-after"] == "1"


def blocked_writer(admin: psycopg.Connection) -> int | None:
    """The backend id of the writer while its statement waits on a lock."""
    admin.execute("SELECT pg_stat_clear_snapshot()")  # activity is cached per transaction
    row = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'WITH new AS%' AND datname = current_database()"
    ).fetchone()
    return row[0] if row else None


async def test_a_connection_dropped_mid_batch_stores_nothing_and_the_writer_recovers(
    pg_client: httpx.AsyncClient, pg_url: str, admin: psycopg.Connection
):
    first = await deliver(pg_client, "workflow_run", run_version(100))  # connects the writer
    assert first.json()["result"] == "stored"
    bodies = [(f"m-{i}", run_version(200 + i)) for i in range(10)]
    killed = 0
    with admin.transaction():
        admin.execute("LOCK TABLE workflow_run IN EXCLUSIVE MODE")
        sends = asyncio.gather(
            *(deliver(pg_client, "workflow_run", body, delivery=d) for d, body in bodies)
        )
        deadline = time.monotonic() + 10
        while not sends.done() and time.monotonic() < deadline:
            pid = blocked_writer(admin)  # each batch waits on the lock mid-statement: kill it
            if pid is None:
                await asyncio.sleep(0.01)
                continue
            if not killed:  # meanwhile the event loop answers other requests at once
                forged = "sha256=" + "0" * 64
                response = await asyncio.wait_for(
                    deliver(pg_client, "workflow_run", bodies[0][1], signature=forged), 1
                )
                assert response.status_code == 401
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            killed += 1
        responses = await asyncio.wait_for(sends, 1)
    assert killed >= 1 and {r.status_code for r in responses} == {503}
    assert count(pg_url, WebhookDelivery) == 1 and count(pg_url, WorkflowRun) == 1

    retried = await asyncio.gather(
        *(deliver(pg_client, "workflow_run", body, delivery=d) for d, body in bodies)
    )
    assert [r.json()["result"] for r in retried] == ["stored"] * 10
    assert count(pg_url, WebhookDelivery) == 11 and count(pg_url, WorkflowRun) == 11


async def test_a_row_that_does_not_fit_fails_only_its_delivery(pg_url: str):
    """An over-long value fails the statement: the batch is split, the others are stored and
    the bad delivery leaves no trace (a retry is not taken for a duplicate)."""
    writer = BatchWriter(pg_url)
    good = [delivery(f"g-{i}", "workflow_run", json.loads(run_version(300 + i))) for i in range(6)]
    body = json.loads(run_version(399))
    body["workflow_run"]["head_branch"] = "b" * 400  # the column holds 300
    bad = delivery("bad", "workflow_run", body)
    try:
        results = await asyncio.gather(
            *(writer.submit(d) for d in [*good[:3], bad, *good[3:]]), return_exceptions=True
        )
        after = await writer.submit(delivery("after", "workflow_run", json.loads(run_version(9))))
    finally:
        await writer.aclose()
    assert isinstance(results[3], WriterUnavailable)
    assert results[:3] + results[4:] == ["stored"] * 6 and after == "stored"
    with db.session_scope(pg_url) as session:
        assert session.get(WebhookDelivery, "bad") is None
    assert count(pg_url, WorkflowRun) == 7


async def test_uses_one_batch_writer_per_event_loop_and_database(pg_url: str, monkeypatch):
    writer = ingest_writer.get_writer()
    assert isinstance(writer, BatchWriter) and ingest_writer.get_writer() is writer
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", "sqlite:///other.db")
    reset_caches()
    assert isinstance(ingest_writer.get_writer(), ingest_writer.ThreadWriter)
    await ingest_writer.close_writers()


def test_payload_values_travel_as_parameters_not_in_the_sql():
    """Payload values travel as JSON parameters, never inside the SQL text."""
    item = delivery(str(uuid.uuid4()), "workflow_run", recorded(RUN))
    batch = ingest_writer.plan([item], {})
    assert "pkg-pr-new" not in batch.statement and item.id not in batch.statement
    assert item.id in batch.params["deliveries"]
