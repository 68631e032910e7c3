"""GitHub webhooks through the HTTP route: real payloads, signed and forged, on both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import SQLModel, select

from opssight import db
from opssight.api import create_api
from opssight.events import get_bus
from opssight.models import (
    Deployment,
    DeploymentStatus,
    PullRequest,
    Repository,
    WebhookDelivery,
    WorkflowJob,
    WorkflowRun,
)
from opssight.services.webhooks import sign
from tests.support import reset_caches

WEBHOOKS = Path(__file__).resolve().parent.parent / "fixtures" / "github" / "webhooks"
SECRET = "webhook-secret-for-tests-0123456789abcdef"
STORED_TABLES = (
    WorkflowRun, WorkflowJob, PullRequest, Deployment, DeploymentStatus, Repository, WebhookDelivery,
)  # fmt: skip


def payload(name: str) -> bytes:
    """The recorded body; pkg-pr-new recordings wrap it as {"event", "payload"}."""
    data = json.loads((WEBHOOKS / name).read_text())
    return json.dumps(data["payload"] if set(data) == {"event", "payload"} else data).encode()


@pytest.fixture
async def client(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("OPSSIGHT_GITHUB_WEBHOOK_SECRET", SECRET)
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def deliver(
    client: httpx.AsyncClient,
    event: str,
    body: bytes,
    *,
    delivery: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature if signature is not None else sign(SECRET, body),
        "Content-Type": "application/json",
    }
    return await client.post("/api/webhooks/github", content=body, headers=headers)


def count(database_url: str, model: type[SQLModel]) -> int:
    with db.session_scope(database_url) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def rows(database_url: str, model: type[SQLModel]) -> list[Any]:
    with db.session_scope(database_url) as session:
        return list(session.exec(select(model)))


def nothing_stored(database_url: str) -> bool:
    return all(count(database_url, model) == 0 for model in STORED_TABLES)


async def test_workflow_run_is_stored_as_the_payload_holds(client, database_url):
    response = await deliver(
        client, "workflow_run", payload("octokit.workflow_run.completed.payload.json")
    )
    assert response.status_code == 200 and response.json()["result"] == "stored"
    [run] = rows(database_url, WorkflowRun)
    assert (run.run_id, run.attempt, run.run_number) == (289782451, 1, 163)
    assert (run.status, run.conclusion, run.event) == (
        "completed",
        "success",
        "repository_dispatch",
    )
    assert run.head_sha == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert run.completed_at == run.updated_at and run.completed_at.isoformat().startswith(
        "2020-10-05T16:33:49"
    )
    [repo] = rows(database_url, Repository)
    assert (repo.id, repo.full_name) == (300029405, "octo-org/octo-repo")


async def test_same_delivery_twice_makes_one_row(client, database_url):
    body = payload("octokit.workflow_run.completed.payload.json")
    first = await deliver(client, "workflow_run", body, delivery="d-1")
    again = await deliver(client, "workflow_run", body, delivery="d-1")
    assert first.json()["result"] == "stored" and again.json()["result"] == "duplicate"
    assert again.status_code == 200
    assert count(database_url, WorkflowRun) == 1 and count(database_url, WebhookDelivery) == 1


async def test_a_new_delivery_of_the_same_run_updates_instead_of_duplicating(client, database_url):
    await deliver(client, "workflow_run", payload("pkg-pr-new.pr.workflow_run.requested.json"))
    [queued] = rows(database_url, WorkflowRun)
    assert (queued.status, queued.conclusion, queued.completed_at) == ("queued", None, None)
    await deliver(client, "workflow_run", payload("pkg-pr-new.pr.workflow_run.completed.json"))
    [done] = rows(database_url, WorkflowRun)
    assert (done.status, done.conclusion) == ("completed", "failure")
    assert count(database_url, WebhookDelivery) == 2


async def test_an_older_delivery_arriving_late_does_not_roll_back(client, database_url):
    await deliver(client, "workflow_run", payload("pkg-pr-new.pr.workflow_run.completed.json"))
    await deliver(client, "workflow_run", payload("pkg-pr-new.pr.workflow_run.requested.json"))
    [run] = rows(database_url, WorkflowRun)
    assert (run.status, run.conclusion) == ("completed", "failure")


JOB_COMPLETED = "octokit.workflow_job.completed.success.with-organization.payload.json"


def same_job(name: str) -> bytes:
    """A recorded ``workflow_job`` delivery as one of the completed job's earlier states: the
    recordings share the job's id, not its creation time (part of a job's key)."""
    body = json.loads(payload(name))
    job = json.loads(payload(JOB_COMPLETED))["workflow_job"]
    assert body["workflow_job"]["id"] == job["id"]
    body["workflow_job"]["created_at"] = job["created_at"]
    return json.dumps(body).encode()


async def test_workflow_jobs_keep_steps_and_never_regress(client, database_url):
    source = json.loads(payload(JOB_COMPLETED))
    await deliver(client, "workflow_job", payload(JOB_COMPLETED))
    await deliver(client, "workflow_job", same_job("octokit.workflow_job.in_progress.payload.json"))
    [job] = rows(database_url, WorkflowJob)
    assert (job.status, job.conclusion, job.name) == ("completed", "success", "linters")
    assert [step["name"] for step in job.steps] == [
        s["name"] for s in source["workflow_job"]["steps"]
    ]
    assert job.runner_name == "GitHub Actions 5"


async def test_pull_requests_and_merges(client, database_url):
    await deliver(client, "pull_request", payload("reallyfastci.pull_request.closed.merged.json"))
    [pr] = rows(database_url, PullRequest)
    source = json.loads(payload("reallyfastci.pull_request.closed.merged.json"))["pull_request"]
    assert pr.number == source["number"] and pr.merged_at is not None
    assert pr.merge_commit_sha == source["merge_commit_sha"]


async def test_deployment_status_marks_the_deployment_successful(client, database_url):
    await deliver(client, "deployment", payload("octokit.deployment.payload.json"))
    await deliver(client, "deployment_status", payload("octokit.deployment_status.payload.json"))
    deployments = {d.id: d for d in rows(database_url, Deployment)}
    status_body = json.loads(payload("octokit.deployment_status.payload.json"))
    deployed = deployments[status_body["deployment"]["id"]]
    assert deployed.state == "success" and deployed.succeeded_at is not None
    assert deployed.environment == status_body["deployment"]["environment"]
    assert count(database_url, DeploymentStatus) == 1


async def test_forged_signature_is_refused_and_nothing_is_stored(client, database_url):
    body = payload("octokit.workflow_run.completed.payload.json")
    for forged in ("", "sha256=" + "0" * 64, sign("another-secret", body), "sha1=abc"):
        response = await deliver(client, "workflow_run", body, signature=forged)
        assert response.status_code == 401
    tampered = body.replace(b'"success"', b'"failure"', 1)
    response = await deliver(client, "workflow_run", tampered, signature=sign(SECRET, body))
    assert response.status_code == 401
    assert nothing_stored(database_url)


async def test_malformed_and_wrong_shape_bodies_store_nothing(client, database_url):
    bad_json = b'{"action": "completed", '
    assert (await deliver(client, "workflow_run", bad_json)).status_code == 400
    wrong_shape = payload("octokit.push.payload.json")
    response = await deliver(client, "workflow_run", wrong_shape)
    assert response.status_code == 422
    assert "workflow_run" in response.json()["detail"]
    assert nothing_stored(database_url)


async def test_missing_headers_and_oversized_bodies(client, database_url, monkeypatch):
    body = payload("octokit.ping.payload.json")
    response = await client.post(
        "/api/webhooks/github", content=body, headers={"X-Hub-Signature-256": sign(SECRET, body)}
    )
    assert response.status_code == 400
    monkeypatch.setenv("OPSSIGHT_GITHUB_WEBHOOK_MAX_BYTES", "1024")
    reset_caches()
    large = payload("octokit.workflow_run.completed.payload.json")
    assert len(large) > 1024
    assert (await deliver(client, "workflow_run", large)).status_code == 413
    assert nothing_stored(database_url)


async def test_ping_push_and_unknown_events(client, database_url):
    assert (await deliver(client, "ping", payload("octokit.ping.payload.json"))).status_code == 200
    assert (await deliver(client, "push", payload("octokit.push.payload.json"))).status_code == 200
    ignored = await deliver(
        client, "check_run", payload("octokit.check_run.completed.payload.json")
    )
    assert ignored.status_code == 202 and ignored.json()["result"] == "ignored"
    assert count(database_url, WorkflowRun) == 0


async def test_without_a_configured_secret_every_delivery_is_refused(
    client, database_url, monkeypatch
):
    monkeypatch.delenv("OPSSIGHT_GITHUB_WEBHOOK_SECRET")
    reset_caches()
    response = await deliver(client, "ping", payload("octokit.ping.payload.json"))
    assert response.status_code == 503
    assert nothing_stored(database_url)


async def test_stored_delivery_is_announced_on_the_bus(client, database_url):
    async with get_bus().subscribe("pipelines") as subscription:
        await deliver(
            client, "workflow_run", payload("octokit.workflow_run.completed.payload.json")
        )
        event = await asyncio.wait_for(subscription.queue.get(), timeout=2)
    assert event.keys == {"repo": "octo-org/octo-repo", "run_id": "289782451"}


def test_every_recorded_webhook_is_accepted(database_url: str, monkeypatch: pytest.MonkeyPatch):
    """All recordings of the events we ingest parse and store (both databases)."""
    from opssight.services import webhooks

    events = {
        "workflow_run",
        "workflow_job",
        "pull_request",
        "push",
        "deployment",
        "deployment_status",
        "ping",
        "issues",
    }
    seen = 0
    for path in sorted(WEBHOOKS.glob("*.json")):
        data = json.loads(path.read_text())
        event = data["event"] if set(data) == {"event", "payload"} else path.name.split(".")[1]
        if event not in events:
            continue
        body = data["payload"] if set(data) == {"event", "payload"} else data
        with db.session_scope(database_url) as session:
            outcome = webhooks.ingest(
                session, delivery_id=path.name[:64], event=event, payload=body
            )
        assert outcome == "stored", path.name
        seen += 1
    assert seen >= 15
