"""GitHub pipeline data in: the one upsert path shared by webhooks, REST sync and the demo feed.

Each ``apply_*`` validates nothing itself (its input is already a pydantic payload), writes
idempotently on GitHub's ids and returns the bus events to publish after the caller commits.

The payload → row mapping lives in the ``*_changes`` functions: pure, no session. ``apply_*``
writes their rows one statement at a time (``apply_changes``); the webhook batch writer
(``services.ingest_writer``) writes the same rows for many deliveries in one statement, with the
same ``Target`` keys and guards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, SQLModel, select

from opssight.events import Event
from opssight.models import (
    Deployment,
    DeploymentStatus,
    PullRequest,
    Repository,
    Workflow,
    WorkflowJob,
    WorkflowRun,
)
from opssight.schemas import github as gh
from opssight.services import dora_links
from opssight.services.dora_links import Link
from opssight.services.upsert import insert_new, upsert

PIPELINES = "pipelines"
DEPLOYMENTS = "deployments"
JOB_PROGRESS = {"queued": 0, "waiting": 0, "pending": 0, "requested": 0, "in_progress": 1}
PRODUCTION_NAMES = {"production", "prod", "live"}
WORKFLOW_DELETED = "deleted"  # GitHub's state for a deleted workflow that still has runs


@dataclass(frozen=True)
class Target:
    """Where a row goes and how it merges with a stored one.

    ``unless_newer``: a stored row whose value in this column is greater is kept (out-of-order
    deliveries never roll back). ``insert_only``: a stored row is never changed.
    """

    model: type[SQLModel]
    keys: tuple[str, ...]
    unless_newer: str | None = None
    insert_only: bool = False


REPOSITORY = Target(Repository, ("id",))
WORKFLOW = Target(Workflow, ("id",), unless_newer="updated_at")
WORKFLOW_RUN = Target(WorkflowRun, ("run_id", "attempt"), unless_newer="updated_at")
# created_at is in the key: the table is partitioned on it (``models.history``)
WORKFLOW_JOB = Target(WorkflowJob, ("id", "created_at"), unless_newer="progress")
PULL_REQUEST = Target(PullRequest, ("id",), unless_newer="updated_at")
DEPLOYMENT = Target(Deployment, ("id",))
DEPLOYMENT_STATUS = Target(DeploymentStatus, ("id",), insert_only=True)


@dataclass
class Changes:
    """What one payload writes (rows in order), which deployments to re-summarize, whose DORA
    links to recompute (``services.dora_links``), what to say."""

    rows: list[tuple[Target, dict[str, Any]]] = field(default_factory=list)
    summarize: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def __add__(self, other: Changes) -> Changes:
        return Changes(
            self.rows + other.rows,
            self.summarize + other.summarize,
            self.events + other.events,
            self.links + other.links,
        )


def apply_changes(session: Session, changes: Changes) -> list[Event]:
    """Write the rows one by one in the caller's session; returns the events to publish."""
    for target, values in changes.rows:
        if target.insert_only:
            insert_new(session, target.model, values, keys=target.keys)
        else:
            upsert(
                session,
                target.model,
                values,
                keys=target.keys,
                unless_newer=target.unless_newer,
            )
    for deployment_id in changes.summarize:
        summarize_deployment(session, deployment_id)
    if changes.links:
        session.flush()
        dora_links.refresh(session, changes.links)
    return changes.events


def is_production(deployment: gh.Deployment) -> bool:
    if deployment.production_environment is not None:
        return deployment.production_environment
    return deployment.environment.lower() in PRODUCTION_NAMES


def repository_changes(repo: gh.Repo) -> Changes:
    values = {
        "id": repo.id,
        "full_name": repo.full_name,
        "html_url": repo.html_url,
        "default_branch": repo.default_branch,
    }
    return Changes(rows=[(REPOSITORY, values)])


def apply_repository(session: Session, repo: gh.Repo) -> None:
    apply_changes(session, repository_changes(repo))


def workflow_changes(repo: gh.Repo, workflow: gh.Workflow) -> Changes:
    values = {
        "id": workflow.id,
        "repo_id": repo.id,
        "name": workflow.name[:200],
        "path": workflow.path[:500],
        "state": workflow.state,
        "html_url": workflow.html_url,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }
    return repository_changes(repo) + Changes(rows=[(WORKFLOW, values)])


def workflow_run_changes(repo: gh.Repo, run: gh.WorkflowRun) -> Changes:
    completed = run.status == "completed"
    workflow = run.name or run.path or "workflow"
    values = {
        "run_id": run.id,
        "attempt": run.run_attempt,
        "repo_id": repo.id,
        "workflow_id": run.workflow_id,
        "workflow_name": workflow,
        "run_number": run.run_number,
        "title": (run.display_title or "")[:500],
        "event": run.event,
        "status": run.status or "unknown",
        "conclusion": run.conclusion if completed else None,
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "actor": run.actor.login if run.actor else None,
        "html_url": run.html_url,
        "pull_requests": [pr.number for pr in run.pull_requests],
        "created_at": run.created_at,
        "run_started_at": run.run_started_at,
        "updated_at": run.updated_at,
        "completed_at": run.updated_at if completed else None,
    }
    event = Event(topic=PIPELINES, keys={"repo": repo.full_name, "run_id": str(run.id)})
    links = (
        [Link("run", run.id, repo.id)]
        if dora_links.is_deploy_workflow(workflow, repo.full_name)
        else []
    )
    own = Changes(rows=[(WORKFLOW_RUN, values)], events=[event], links=links)
    return repository_changes(repo) + own


def apply_workflow_run(session: Session, repo: gh.Repo, run: gh.WorkflowRun) -> list[Event]:
    return apply_changes(session, workflow_run_changes(repo, run))


def workflow_job_changes(repo: gh.Repo, job: gh.WorkflowJob) -> Changes:
    values = {
        "id": job.id,
        "run_id": job.run_id,
        "attempt": job.run_attempt,
        "name": job.name,
        "status": job.status,
        "progress": JOB_PROGRESS.get(job.status, 2),
        "conclusion": job.conclusion,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "runner_name": job.runner_name,
        "labels": job.labels,
        "steps": [step.model_dump(mode="json") for step in job.steps],
        "html_url": job.html_url,
    }
    event = Event(topic=PIPELINES, keys={"repo": repo.full_name, "run_id": str(job.run_id)})
    return repository_changes(repo) + Changes(rows=[(WORKFLOW_JOB, values)], events=[event])


def apply_workflow_job(session: Session, repo: gh.Repo, job: gh.WorkflowJob) -> list[Event]:
    return apply_changes(session, workflow_job_changes(repo, job))


def pull_request_changes(repo: gh.Repo, pr: gh.PullRequest) -> Changes:
    values = {
        "id": pr.id,
        "repo_id": repo.id,
        "number": pr.number,
        "title": pr.title[:500],
        "state": pr.state,
        "author": pr.user.login if pr.user else None,
        "head_sha": pr.head.sha,
        "base_ref": pr.base.ref,
        "merge_commit_sha": pr.merge_commit_sha,
        "html_url": pr.html_url,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "merged_at": pr.merged_at,
        "closed_at": pr.closed_at,
    }
    event = Event(topic=DEPLOYMENTS, keys={"repo": repo.full_name, "pull": str(pr.number)})
    links = [Link("pull", pr.id, repo.id)] if pr.merged_at is not None else []
    own = Changes(rows=[(PULL_REQUEST, values)], events=[event], links=links)
    return repository_changes(repo) + own


def apply_pull_request(session: Session, repo: gh.Repo, pr: gh.PullRequest) -> list[Event]:
    return apply_changes(session, pull_request_changes(repo, pr))


def set_first_commit(session: Session, pull_id: int, commits: list[gh.Commit]) -> None:
    """Lead time starts at the PR's earliest commit (from ``/pulls/{n}/commits``)."""
    times = [c.authored_at for c in commits if c.authored_at is not None]
    row = session.get(PullRequest, pull_id, populate_existing=True)
    if row is not None and times:
        row.first_commit_at = min(times)
        session.add(row)
        session.flush()
        dora_links.refresh(session, [Link("pull", pull_id, row.repo_id)])


def deployment_changes(repo: gh.Repo, deployment: gh.Deployment) -> Changes:
    values = {
        "id": deployment.id,
        "repo_id": repo.id,
        "sha": deployment.sha,
        "ref": deployment.ref,
        "environment": deployment.environment,
        "production": is_production(deployment),
        "creator": deployment.creator.login if deployment.creator else None,
        "created_at": deployment.created_at,
    }
    event = Event(topic=DEPLOYMENTS, keys={"repo": repo.full_name, "id": str(deployment.id)})
    own = Changes(
        rows=[(DEPLOYMENT, values)],
        events=[event],
        links=[Link("deployment", deployment.id, repo.id)],
    )
    return repository_changes(repo) + own


def apply_deployment(session: Session, repo: gh.Repo, deployment: gh.Deployment) -> list[Event]:
    return apply_changes(session, deployment_changes(repo, deployment))


def deployment_status_changes(
    repo: gh.Repo, deployment: gh.Deployment, status: gh.DeploymentStatus
) -> Changes:
    values = {
        "id": status.id,
        "deployment_id": deployment.id,
        "state": status.state,
        "environment": status.environment,
        "description": (status.description or "")[:500] or None,
        "created_at": status.created_at,
    }
    own = Changes(rows=[(DEPLOYMENT_STATUS, values)], summarize=[deployment.id])
    return deployment_changes(repo, deployment) + own


def apply_deployment_status(
    session: Session, repo: gh.Repo, deployment: gh.Deployment, status: gh.DeploymentStatus
) -> list[Event]:
    return apply_changes(session, deployment_status_changes(repo, deployment, status))


def summarize_deployment(session: Session, deployment_id: int) -> None:
    """Latest state and first success of a deployment, from all its statuses."""
    statuses = list(
        session.exec(
            select(DeploymentStatus)
            .where(DeploymentStatus.deployment_id == deployment_id)
            .order_by(DeploymentStatus.created_at, DeploymentStatus.id)
        )
    )
    row = session.get(Deployment, deployment_id, populate_existing=True)
    if row is None or not statuses:
        return
    row.state, row.state_at = statuses[-1].state, statuses[-1].created_at
    successes = [s.created_at for s in statuses if s.state == "success"]
    row.succeeded_at = successes[0] if successes else None
    session.add(row)
