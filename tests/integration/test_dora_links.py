"""DORA's materialized links equal the ones computed from scratch, whatever the arrival order.

Recorded payloads only (deployment statuses, workflow runs, a merged pull request, an issue
labelled ``incident``), re-stamped in code with other ids, shas and times and all moved into one
recorded repository, so that deployments, merges and incidents interleave. They are ingested in
random orders, one by one (SQLite and PostgreSQL) and through the batch writer (PostgreSQL);
the links then must be exactly what ``dora_links.rebuild`` computes from the stored rows.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from opssight import db
from opssight.models import DoraCause, DoraChange, DoraConfig, DoraDeployment, Incident
from opssight.schemas import github as gh
from opssight.services import dora_links, pipelines, webhooks
from opssight.services.ingest_writer import BatchWriter
from tests.integration.test_github_webhooks import payload
from tests.integration.test_webhook_writer import delivery, truncate
from tests.replay.github import load
from tests.support import reset_caches

T = datetime(2026, 3, 2, tzinfo=UTC)
SHAS = [f"{n:040x}" for n in range(1, 9)]


def recorded(name: str) -> dict[str, Any]:
    return json.loads(payload(name))


REPOSITORY = recorded("octokit.deployment_status.payload.json")["repository"]


def iso(minutes: float) -> str:
    return (T + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def history(seed: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(delivery id, event, body) of two weeks in one repository, in time order."""
    rng = random.Random(seed)
    items: list[tuple[str, str, dict[str, Any]]] = []

    def minute() -> int:
        return rng.randrange(0, 14 * 1440, 10)  # ten-minute steps: equal times happen

    def add(name: str, event: str, body: dict[str, Any]) -> None:
        body["repository"] = copy.deepcopy(REPOSITORY)
        items.append((name, event, body))

    for n in range(14):  # production deployments: pending, then success or failure
        at, sha = minute(), rng.choice(SHAS)
        for k, state in enumerate(["pending", rng.choice(["success", "success", "failure"])]):
            body = recorded("octokit.deployment_status.payload.json")
            body["deployment"].update(
                id=1000 + n, sha=sha, environment="production", created_at=iso(at),
                updated_at=iso(at),
            )  # fmt: skip
            body["deployment_status"].update(
                id=5000 + 2 * n + k, state=state, environment="production",
                created_at=iso(at + 10 * k), updated_at=iso(at + 10 * k),
            )  # fmt: skip
            add(f"status-{n}-{k}", "deployment_status", body)
    for n in range(8):  # "Deploy" runs, some re-run
        at, sha = minute(), rng.choice(SHAS)
        for attempt in range(1, rng.choice([1, 1, 2]) + 1):
            body = recorded("octokit.workflow_run.completed.payload.json")
            body["workflow_run"].update(
                id=7000 + n, name="Deploy", run_attempt=attempt, head_sha=sha,
                status="completed", conclusion=rng.choice(["success", "failure"]),
                created_at=iso(at), run_started_at=iso(at + 60 * attempt),
                updated_at=iso(at + 60 * attempt),
            )  # fmt: skip
            add(f"run-{n}-{attempt}", "workflow_run", body)
    for n in range(16):  # merged pull requests, most into the default branch
        at = minute()
        body = recorded("reallyfastci.pull_request.closed.merged.json")
        body["pull_request"].update(
            id=9000 + n, number=n + 1, merge_commit_sha=rng.choice([*SHAS, f"{99:040x}"]),
            created_at=iso(at - 300), updated_at=iso(at), merged_at=iso(at), closed_at=iso(at),
        )  # fmt: skip
        body["pull_request"]["base"]["ref"] = rng.choice(["master", "master", "release"])
        add(f"pull-{n}", "pull_request", body)
    for n in range(6):  # incidents, most resolved
        at = minute()
        body = recorded("octokit.issues.labeled.payload.json")
        issue = body["issue"]
        issue.update(
            id=3000 + n, number=100 + n, created_at=iso(at), updated_at=iso(at), state="open",
            closed_at=None, labels=[{**issue["labels"][0], "name": "incident"}],
        )  # fmt: skip
        add(f"issue-{n}", "issues", body)
        if rng.random() < 0.7:
            closed = copy.deepcopy(body)
            closed["action"] = "closed"
            closed["issue"].update(state="closed", closed_at=iso(at + 90), updated_at=iso(at + 90))
            add(f"issue-{n}-closed", "issues", closed)
    return items


def links(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every link row, incidents by their natural key (ids differ between databases)."""
    with db.session_scope(url) as session:
        d, ch, c, i = (
            DoraDeployment.__table__.c,
            DoraChange.__table__.c,
            DoraCause.__table__.c,
            Incident.__table__.c,
        )
        return {
            "deployments": sorted(
                map(tuple, session.execute(select(d.kind, d.ref_id, d.at, d.sha)))
            ),
            "changes": sorted(
                map(
                    tuple,
                    session.execute(
                        select(ch.pull_id, ch.kind, ch.ref_id, ch.at, ch.lead, ch.matched_by)
                    ),
                )
            ),
            "causes": sorted(
                map(
                    tuple,
                    session.execute(
                        select(i.key, c.kind, c.ref_id, c.at).join_from(
                            DoraCause.__table__, Incident.__table__, i.id == c.incident_id
                        )
                    ),
                )
            ),
        }


def rebuilt(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with db.session_scope(url) as session:
        dora_links.rebuild(session)
    return links(url)


@pytest.fixture(autouse=True)
def deploy_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSSIGHT_DORA_DEPLOY_WORKFLOWS", "Deploy")
    reset_caches()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_one_by_one_in_any_order_equals_a_rebuild(database_url: str, seed: int):
    items = history(seed)
    random.Random(seed).shuffle(items)
    for delivery_id, event, body in items:
        with db.session_scope(database_url) as session:
            webhooks.ingest(session, delivery_id=delivery_id, event=event, payload=body)
    incremental = links(database_url)
    assert incremental["deployments"] and incremental["changes"] and incremental["causes"]
    assert {row[0] for row in incremental["deployments"]} == {dora_links.DEPLOYMENT, dora_links.RUN}
    assert rebuilt(database_url) == incremental


@pytest.mark.parametrize(("seed", "max_batch"), [(5, 4), (6, 50)])
async def test_the_batch_writer_leaves_the_links_of_a_rebuild(
    migrated_postgres: str, monkeypatch: pytest.MonkeyPatch, seed: int, max_batch: int
):
    truncate(migrated_postgres)
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", migrated_postgres)
    reset_caches()
    items = history(seed)
    random.Random(seed).shuffle(items)
    writer = BatchWriter(migrated_postgres, max_batch=max_batch, lanes=2)
    try:
        outcomes = await asyncio.gather(
            *(writer.submit(delivery(d, event, body)) for d, event, body in items)
        )
    finally:
        await writer.aclose()
    assert set(outcomes) == {"stored"}
    incremental = links(migrated_postgres)
    assert incremental["changes"] and incremental["causes"]
    assert rebuilt(migrated_postgres) == incremental


def test_a_deploy_workflow_configured_later_rebuilds_the_links(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPSSIGHT_DORA_DEPLOY_WORKFLOWS", "")
    reset_caches()
    with db.session_scope(database_url) as session:
        dora_links.ensure(session)
    for delivery_id, event, body in history(7):
        with db.session_scope(database_url) as session:
            webhooks.ingest(session, delivery_id=delivery_id, event=event, payload=body)
    assert {row[0] for row in links(database_url)["deployments"]} == {dora_links.DEPLOYMENT}
    monkeypatch.setenv("OPSSIGHT_DORA_DEPLOY_WORKFLOWS", "Deploy")
    reset_caches()
    with db.session_scope(database_url) as session:
        assert dora_links.ensure(session) == ["Deploy"]
        assert session.get(DoraConfig, 1).deploy_workflows == ["Deploy"]
    now = links(database_url)
    assert dora_links.RUN in {row[0] for row in now["deployments"]}
    assert rebuilt(database_url) == now


def test_a_first_commit_found_later_updates_the_lead_time(session: Session, database_url: str):
    for delivery_id, event, body in history(8):
        webhooks.ingest(session, delivery_id=delivery_id, event=event, payload=body)
    before = links(database_url)
    pull_id, *_, lead, _ = before["changes"][0]
    commits = [gh.Commit.model_validate(c) for c in load("list-commits.200.json")]
    pipelines.set_first_commit(session, pull_id, commits)  # first commit: 2011, long before
    session.commit()
    after = links(database_url)
    assert after == rebuilt(database_url)
    assert next(row for row in after["changes"] if row[0] == pull_id)[4] > lead
