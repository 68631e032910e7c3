"""Demo GitHub data out once demo data is off: the demo repositories and every row stored for
them go; a real repository's rows and DORA figures stay exactly as they were.

The demo feed's own deliveries beside a real repository's (recorded payloads, re-stamped in
``test_dora_links.history``, plus recorded jobs and a recorded workflow listing), on SQLite and
PostgreSQL (where the weekly job roll-up is written too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func
from sqlmodel import Session, SQLModel, select

from opssight.demo import github as demo
from opssight.events import get_bus
from opssight.models import (
    Deployment,
    DeploymentStatus,
    DoraCause,
    DoraChange,
    DoraDeployment,
    Incident,
    PullRequest,
    Repository,
    WebhookDelivery,
    Workflow,
    WorkflowJob,
    WorkflowJobWeekly,
    WorkflowRun,
)
from opssight.models.history import HISTORY
from opssight.schemas import github as gh
from opssight.services import cache, dora, pipelines, rollups, webhooks
from opssight.services.demo_repositories import forget_demo
from opssight.services.source_config import GitHubConfig
from tests.integration.test_dora_links import REPOSITORY, T, history, recorded
from tests.replay.github import load
from tests.support import reset_caches

REAL_ID = REPOSITORY["id"]
NOW = T + timedelta(days=14)  # the demo feed's last week overlaps the real two weeks
WINDOW = {"start": T, "end": NOW + timedelta(days=1)}
DEMO_URL = f"https://github.com/{demo.ORG}/"
TABLES: tuple[type[SQLModel], ...] = (
    Repository,
    Workflow,
    WorkflowRun,
    WorkflowJob,
    PullRequest,
    Deployment,
    DeploymentStatus,
    Incident,
    DoraDeployment,
    DoraChange,
    DoraCause,
    WebhookDelivery,
    WorkflowJobWeekly,
)

Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


@pytest.fixture(autouse=True)
def deploy_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real repository's "Deploy" runs count as deployments too (both kinds of links)."""
    monkeypatch.setenv("OPSSIGHT_DORA_DEPLOY_WORKFLOWS", "Deploy")
    reset_caches()


def github(repositories: tuple[str, ...] = (), organisation: str | None = None) -> GitHubConfig:
    return GitHubConfig(
        origin="settings",
        api_url="https://api.github.com",
        web_url="https://github.com",
        token="ghp_real",
        app_id=None,
        installation_id=None,
        private_key=None,
        repositories=repositories,
        organisation=organisation,
    )


def add_workflow(session: Session, repository: dict[str, Any], item: dict[str, Any]) -> None:
    """A workflow as the REST sync stores it (the demo sends none; a sync could have)."""
    changes = pipelines.workflow_changes(
        gh.Repo.model_validate(repository), gh.Workflow.model_validate(item)
    )
    pipelines.apply_changes(session, changes)
    session.commit()


def ingest_real(session: Session) -> None:
    """Two weeks of one real repository: deployments, "Deploy" runs, merged pull requests,
    incidents, two recorded jobs of its runs and one workflow."""
    for delivery_id, event_name, body in history(1):
        webhooks.ingest(session, delivery_id=delivery_id, event=event_name, payload=body)
    for n, outcome in enumerate(["success", "failure"]):
        body = recorded(f"octokit.workflow_job.completed.{outcome}.with-organization.payload.json")
        body["workflow_job"].update(id=body["workflow_job"]["id"] + n, run_id=7000 + n)
        body["repository"] = copy.deepcopy(REPOSITORY)
        webhooks.ingest(session, delivery_id=f"job-{n}", event="workflow_job", payload=body)
    add_workflow(session, REPOSITORY, load("list-repo-workflows.200.json")["workflows"][0])


def ingest_demo(session: Session) -> None:
    """A week of the demo feed, and a workflow for one demo repository."""
    assert demo.Feed(days=7)(session, NOW) > 0
    first = demo.deliveries(NOW - timedelta(days=1), NOW)[0].payload["repository"]
    add_workflow(session, first, load("list-repo-workflows.200.json")["workflows"][1])


def roll_up_jobs(session: Session) -> None:
    """The weekly job roll-up of every month holding jobs (PostgreSQL's SQL)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    jobs = next(h for h in HISTORY if h.model is WorkflowJob)
    months = {date(at.year, at.month, 1) for at in session.exec(select(WorkflowJob.created_at))}
    for month in months:
        rollups.roll_up(session, jobs, month)
    session.commit()


def snapshot(session: Session) -> Rows:
    """Every row of every table a repository's data lives in, by primary key."""
    found: Rows = {}
    for model in TABLES:
        table = model.__table__  # type: ignore[attr-defined]
        keys = [column.name for column in table.primary_key.columns]
        found[table.name] = {
            tuple(row[k] for k in keys): dict(row)
            for row in session.execute(select(table)).mappings()
        }
    return found


def demo_rows(rows: Rows) -> dict[str, Callable[[dict[str, Any]], bool]]:
    """Which rows of each table are the demo's, told by their own columns."""
    repos = {
        r["id"] for r in rows["repository"].values() if r["full_name"].startswith(f"{demo.ORG}/")
    }
    deployments = {d["id"] for d in rows["deployment"].values() if d["repo_id"] in repos}

    def by_url(row: dict[str, Any]) -> bool:
        return (row.get("html_url", row.get("url")) or "").startswith(DEMO_URL)

    def by_repo(row: dict[str, Any]) -> bool:
        return row["repo_id"] in repos

    return {
        "repository": lambda r: r["id"] in repos,
        "workflow": by_repo,
        "workflow_run": by_url,
        "workflow_job": by_url,
        "pull_request": by_url,
        "deployment": by_repo,
        "deployment_status": lambda r: r["deployment_id"] in deployments,
        "incident": by_url,
        "dora_deployment": by_repo,
        "dora_change": by_repo,
        "dora_cause": by_repo,
        "webhook_delivery": lambda r: r["id"].startswith("demo-"),
        "workflow_job_weekly": lambda r: r["repository"].startswith(f"{demo.ORG}/"),
    }


def split(rows: Rows) -> tuple[Rows, Rows]:
    """(the demo's rows, the others) of each table."""
    is_demo = demo_rows(rows)
    ours = {t: {k: r for k, r in found.items() if is_demo[t](r)} for t, found in rows.items()}
    theirs = {t: {k: r for k, r in found.items() if not is_demo[t](r)} for t, found in rows.items()}
    return ours, theirs


def figures(session: Session, repo_ids: list[int] | None) -> dict[str, Any]:
    """What the DORA page shows for this scope: the report and its three drill-down lists."""
    scope = {**WINDOW, "repo_ids": repo_ids}
    report = dora.dora_report(session, **scope)
    return {
        "metrics": metrics(report),
        "deployments": dora.deployments_in(session, **scope),
        "pulls": dora.deployed_pulls(session, **scope),
        "incidents": dora.incidents_in(session, **scope),
    }


def metrics(report: dora.DoraReport) -> tuple[Any, ...]:
    return (
        report.deployment_frequency,
        report.lead_time,
        report.change_failure_rate,
        report.time_to_restore,
    )


def test_demo_repositories_go_and_the_real_one_stays_as_it_was(session: Session):
    ingest_real(session)
    ingest_demo(session)
    roll_up_jobs(session)
    real = figures(session, [REAL_ID])  # builds the links for the configured deploy workflow
    everything = figures(session, None)
    assert real["metrics"] != everything["metrics"]  # the demo repositories count meanwhile

    def report() -> dora.DoraReport:
        return dora.dora_report(session, **WINDOW)

    topics = (pipelines.DEPLOYMENTS, pipelines.PIPELINES)
    cached = cache.get_or_set("test:dora", report, topics=topics, model=dora.DoraReport)
    before = snapshot(session)
    ours, theirs = split(before)
    postgresql = session.get_bind().dialect.name == "postgresql"
    for table in before:
        expected = table != "workflow_job_weekly" or postgresql
        assert bool(ours[table]) == expected, f"no demo rows in {table} to delete"
        assert bool(theirs[table]) == expected, f"no real rows in {table} to keep"
    generations = get_bus().generations(topics)

    assert forget_demo(session, github(("Codertocat/Hello-World",))) == len(demo.REPOS)

    after = snapshot(session)
    assert {t: len(found) for t, found in after.items()} == {
        t: len(found) for t, found in theirs.items()
    }
    assert after == theirs
    assert figures(session, [REAL_ID]) == real
    assert metrics(report()) == real["metrics"]  # unscoped, only the real repository is left
    moved = get_bus().generations(topics)
    assert all(now > then for now, then in zip(moved, generations, strict=True))
    fresh = cache.get_or_set("test:dora", report, topics=topics, model=dora.DoraReport)
    assert fresh != cached and metrics(fresh) == real["metrics"]  # the cached view is recomputed

    assert forget_demo(session, None) == 0
    assert snapshot(session) == theirs


def test_a_demo_repository_the_real_configuration_names_stays(session: Session):
    ingest_demo(session)
    api, web = f"{demo.ORG}/api", f"{demo.ORG}/web"
    assert forget_demo(session, github((api.upper(),))) == 2  # GitHub names ignore case
    left = snapshot(session)
    assert {r["full_name"] for r in left["repository"].values()} == {api}
    ours, _ = split(left)
    assert ours["workflow_run"] and ours["pull_request"] and ours["deployment"]
    assert all(r["repository"] == api for r in left["webhook_delivery"].values())

    assert forget_demo(session, github(organisation=demo.ORG)) == 0
    assert forget_demo(session, github((web,))) == 1  # api, no longer named
    assert not session.exec(select(func.count()).select_from(Repository)).one()


def test_with_no_demo_repository_only_the_repository_table_is_read(session: Session):
    ingest_real(session)
    before = snapshot(session)
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert forget_demo(session, None) == 0
        assert forget_demo(session, github()) == 0
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sent and all("FROM repository" in s for s in sent), sent
    assert not any("workflow_run" in s or "workflow_job" in s for s in sent)
    assert snapshot(session) == before
