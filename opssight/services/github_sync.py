"""The reconciliation poll: GitHub REST listings through the same upserts as webhooks.

Every list request is conditional (ETags kept in the database, written in the same transaction
as the rows they describe), so a poll of an unchanged repository costs one 304 per resource and
writes nothing. Workflows missing from a full listing are kept with state ``deleted`` (their
runs still name them). Jobs are fetched only for runs that changed, commits only for merged pull
requests whose first commit is unknown, statuses only for deployments not yet final. Incidents
are the issues carrying ``Settings.dora_incident_label`` (see ``services.incidents``).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel
from sqlmodel import Session, select, update

from opssight import tracing
from opssight.config import get_settings
from opssight.events import Event, get_bus
from opssight.integrations.github import GitHubClient, GitHubError, GitHubNotFound
from opssight.models import (
    Deployment,
    HttpEtag,
    Incident,
    PullRequest,
    Repository,
    Workflow,
    WorkflowRun,
)
from opssight.models.base import utcnow
from opssight.schemas import github as gh
from opssight.schemas.connector import ConnectorCheck
from opssight.services import connector_checks, incidents, pipelines
from opssight.services.connectors import record_check
from opssight.services.upsert import upsert

log = structlog.get_logger(__name__)

FINAL_DEPLOYMENT_STATES = {"success", "failure", "error", "inactive"}


class DbEtagStore:
    """ETags in ``http_etag``; written through the caller's session (committed with the data).

    With ``conditional=False`` stored ETags are not sent (a full pass that also sees changes
    beyond a listing's first page) but fresh ones are still kept.
    """

    def __init__(self, session: Session, *, conditional: bool = True) -> None:
        self.session = session
        self.conditional = conditional

    @staticmethod
    def _key(url: str) -> str:
        return hashlib.sha256(url.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        if not self.conditional:
            return None
        row = self.session.get(HttpEtag, self._key(key))
        return row.etag if row else None

    def set(self, key: str, etag: str) -> None:
        values = {"key": self._key(key), "url": key[:2000], "etag": etag, "updated_at": utcnow()}
        upsert(self.session, HttpEtag, values, keys=("key",))


class RepoSync(BaseModel):
    repository: str
    identity: gh.Repo | None = None  # GitHub's record of the repository, from the listings
    workflows: int = 0
    runs: int = 0
    jobs: int = 0
    pulls: int = 0
    deployments: int = 0
    incidents: int = 0

    @property
    def changed(self) -> int:
        return (
            self.workflows + self.runs + self.jobs + self.pulls + self.deployments + self.incidents
        )


def history_window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """Whole UTC days, so the runs URL (and its ETag) stays the same all day."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days), today + timedelta(days=1) - timedelta(seconds=1)


def _known_repo(session: Session, full_name: str) -> gh.Repo | None:
    row = session.exec(select(Repository).where(Repository.full_name == full_name)).first()
    if row is None:
        return None
    owner, name = full_name.split("/", 1)
    return gh.Repo(
        id=row.id,
        name=name,
        full_name=full_name,
        owner=gh.Account(login=owner),
        html_url=row.html_url,
        default_branch=row.default_branch,
    )


def _sync_runs(
    session: Session, client: GitHubClient, owner: str, name: str, days: int, result: RepoSync
) -> None:
    start, end = history_window(utcnow(), days)
    changed: list[tuple[gh.Repo, gh.WorkflowRun]] = []
    for item in client.iter_workflow_runs(owner, name, start, end):
        run, repo = gh.WorkflowRun.model_validate(item), gh.Repo.model_validate(item["repository"])
        result.identity = result.identity or repo
        stored = session.get(WorkflowRun, (run.id, run.run_attempt), populate_existing=True)
        if stored is None or stored.updated_at < run.updated_at:
            changed.append((repo, run))
        pipelines.apply_workflow_run(session, repo, run)
    session.commit()
    result.runs = len(changed)
    for repo, run in changed:
        for item in client.list_jobs_for_run(owner, name, run.id, run.run_attempt):
            pipelines.apply_workflow_job(session, repo, gh.WorkflowJob.model_validate(item))
            result.jobs += 1
        session.commit()


def _sync_workflows(
    session: Session, client: GitHubClient, owner: str, name: str, result: RepoSync
) -> None:
    """The repository's workflows; one missing from a listing read in full was deleted."""
    repo = result.identity or _known_repo(session, f"{owner}/{name}")
    if repo is None:
        log.info("github.sync.workflows_skipped", repository=f"{owner}/{name}")
        return
    listing = client.list_repo_workflows(owner, name)
    listed: set[int] = set()
    for item in listing:
        workflow = gh.Workflow.model_validate(item)
        listed.add(workflow.id)
        stored = session.get(Workflow, workflow.id, populate_existing=True)
        if stored is None or (stored.updated_at, stored.state) != (
            workflow.updated_at,
            workflow.state,
        ):
            result.workflows += 1
        pipelines.apply_changes(session, pipelines.workflow_changes(repo, workflow))
    if not listing.not_modified:
        gone = session.exec(
            update(Workflow)
            .where(
                Workflow.repo_id == repo.id,
                Workflow.state != pipelines.WORKFLOW_DELETED,
                Workflow.id.not_in(listed),
            )
            .values(state=pipelines.WORKFLOW_DELETED)
        )
        result.workflows += gone.rowcount
    session.commit()


def _sync_pulls(
    session: Session, client: GitHubClient, owner: str, name: str, result: RepoSync
) -> None:
    for item in client.list_pull_requests(owner, name):
        pull = gh.PullRequest.model_validate(item)
        repo = gh.Repo.model_validate(item["base"]["repo"])
        result.identity = result.identity or repo
        stored = session.get(PullRequest, pull.id, populate_existing=True)
        if stored is None or stored.updated_at < pull.updated_at:
            result.pulls += 1
        pipelines.apply_pull_request(session, repo, pull)
    session.commit()
    missing = session.exec(
        select(PullRequest.id, PullRequest.number)
        .join(Repository, Repository.id == PullRequest.repo_id)
        .where(
            Repository.full_name == f"{owner}/{name}",
            PullRequest.merged_at.is_not(None),
            PullRequest.first_commit_at.is_(None),
        )
    ).all()
    for pull_id, number in missing:
        commits = client.list_pull_request_commits(owner, name, number)
        pipelines.set_first_commit(session, pull_id, [gh.Commit.model_validate(c) for c in commits])
        session.commit()


def _sync_deployments(
    session: Session, client: GitHubClient, owner: str, name: str, result: RepoSync
) -> None:
    repo = result.identity or _known_repo(session, f"{owner}/{name}")
    if repo is None:
        log.info("github.sync.deployments_skipped", repository=f"{owner}/{name}")
        return
    for item in client.list_deployments(owner, name):
        deployment = gh.Deployment.model_validate(item)
        stored = session.get(Deployment, deployment.id, populate_existing=True)
        pipelines.apply_deployment(session, repo, deployment)
        if stored is not None and stored.state in FINAL_DEPLOYMENT_STATES:
            continue
        result.deployments += 1
        for status in client.list_deployment_statuses(owner, name, deployment.id):
            pipelines.apply_deployment_status(
                session, repo, deployment, gh.DeploymentStatus.model_validate(status)
            )
    session.commit()


def _sync_incidents(
    session: Session, client: GitHubClient, owner: str, name: str, result: RepoSync
) -> None:
    """Issues carrying the incident label. A listing read in full (not a 304) is all of them:
    a counted incident of the repository missing from it lost its label (or its issue was
    deleted) while webhooks were missed, and stops counting."""
    repo = result.identity or _known_repo(session, f"{owner}/{name}")
    if repo is None:
        log.info("github.sync.incidents_skipped", repository=f"{owner}/{name}")
        return
    label = get_settings().dora_incident_label
    listing = client.list_issues(owner, name, label)
    listed: set[str] = set()
    for item in listing:
        if "pull_request" in item:
            continue
        issue = gh.Issue.model_validate(item)
        listed.add(str(issue.id))
        stored = session.exec(
            select(Incident).where(
                Incident.source == incidents.SOURCE, Incident.key == str(issue.id)
            )
        ).first()
        if stored is None or stored.updated_at is None or stored.updated_at < issue.updated_at:
            result.incidents += 1
        pipelines.apply_changes(session, incidents.issue_changes(repo, issue, label=label))
    if not listing.not_modified:
        gone = session.exec(
            update(Incident)
            .where(
                Incident.source == incidents.SOURCE,
                Incident.repo_id == repo.id,
                Incident.counted,
                Incident.key.not_in(listed),
            )
            .values(counted=False)
        )
        result.incidents += gone.rowcount
    session.commit()


def sync_repository(
    session: Session, client: GitHubClient, full_name: str, *, days: int
) -> RepoSync:
    """Runs (every attempt) with their jobs, workflows, pull requests, deployments, incidents of
    one repository."""
    owner, name = full_name.split("/", 1)
    result = RepoSync(repository=full_name)
    _sync_runs(session, client, owner, name, days, result)
    _sync_workflows(session, client, owner, name, result)
    _sync_pulls(session, client, owner, name, result)
    _sync_deployments(session, client, owner, name, result)
    _sync_incidents(session, client, owner, name, result)
    if result.changed:
        get_bus().publish(Event(topic=pipelines.PIPELINES, keys={"repo": full_name}))
        get_bus().publish(Event(topic=pipelines.DEPLOYMENTS, keys={"repo": full_name}))
    return result


def repositories(client: GitHubClient, names: list[str], org: str | None) -> list[str]:
    found = list(names)
    if org:
        found += [item["full_name"] for item in client.list_org_repos(org)]
    return sorted(set(found))


def sync(
    session: Session,
    client: GitHubClient,
    *,
    names: list[str],
    org: str | None,
    days: int,
    interval: float,
) -> list[RepoSync]:
    """One reconciliation pass; its outcome becomes the ``github`` connector's status."""
    started = time.perf_counter()
    before = client.stats.requests, client.stats.not_modified
    results: list[RepoSync] = []
    errors: list[str] = []
    try:
        targets = repositories(client, names, org)
    except GitHubError as exc:
        targets, errors = [], [str(exc)]
    for full_name in targets:
        try:
            with tracing.span("github.sync.repository", repository=full_name):
                results.append(sync_repository(session, client, full_name, days=days))
        except GitHubNotFound as exc:
            session.rollback()
            errors.append(f"{full_name}: {exc}")
        except GitHubError as exc:
            session.rollback()
            errors.append(f"{full_name}: {exc}")
            log.warning("github.sync.failed", repository=full_name, error=str(exc))
            break
    record_check(session, _check(client, results, errors, before, started, interval, targets))
    return results


def _check(
    client: GitHubClient,
    results: list[RepoSync],
    errors: list[str],
    before: tuple[int, int],
    started: float,
    interval: float,
    targets: list[str],
) -> ConnectorCheck:
    requests = client.stats.requests - before[0]
    unchanged = client.stats.not_modified - before[1]
    rate = client.budget.state()
    now = utcnow()
    ratio = f"{unchanged / requests:.0%}" if requests else "—"
    facts = {
        "Last sync": f"{now:%Y-%m-%d %H:%M:%S} UTC",
        "Next sync": f"{now + timedelta(seconds=interval):%Y-%m-%d %H:%M:%S} UTC",
        "Repositories": f"{len(results)}/{len(targets)}",
        "Requests spent": f"{requests:,}",
        "304 ratio": ratio,
        "Rows changed": f"{sum(r.changed for r in results):,}",
        "Authentication": client.credentials.label,
    }
    parts: list[Any] = [
        f"{len(results)}/{len(targets)} repositories",
        f"{requests} requests ({ratio} 304)",
    ]
    if rate is not None:
        facts |= connector_checks.rate_facts(rate.remaining, rate.limit, rate.reset)
        parts.append(f"{rate.remaining:,}/{rate.limit:,} API requests left")
    parts.append(f"next sync {now + timedelta(seconds=interval):%H:%M:%S} UTC")
    state = ("degraded" if results else "down") if errors else "ok"
    return ConnectorCheck(
        name="github",
        kind="github",
        state=state,
        detail=" · ".join(parts),
        latency_ms=(time.perf_counter() - started) * 1000,
        error="; ".join(errors)[:2000] or None,
        facts=facts,
    )
