"""Demo GitHub data out: once demo data is off, the demo repositories (``opssight.demo.github``,
organisation ``ORG``) and everything stored for them go, so that they neither show in Pipelines
nor count in DORA beside the real ones.

Called every few seconds by every worker: when there is nothing to delete it reads only the small
``repository`` table. A demo repository the real GitHub configuration names (itself or its
organisation) is kept.
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel import Session, SQLModel, col, delete, select

from opssight.demo.github import ORG
from opssight.events import Event, get_bus
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
from opssight.services.pipelines import DEPLOYMENTS, PIPELINES
from opssight.services.source_config import GitHubConfig

log = structlog.get_logger(__name__)


def _named(full_name: str, github: GitHubConfig | None) -> bool:
    """Whether the real GitHub configuration lists this repository or its organisation."""
    if github is None:
        return False
    owner = full_name.partition("/")[0].casefold()
    listed = {name.casefold() for name in github.repositories}
    return full_name.casefold() in listed or (github.organisation or "").casefold() == owner


def _deletions(ids: list[int], names: list[str]) -> list[tuple[type[SQLModel], Any]]:
    """(table, which of its rows) for these repositories, each table before what it refers to."""
    runs = select(WorkflowRun.run_id).where(col(WorkflowRun.repo_id).in_(ids))
    deployments = select(Deployment.id).where(col(Deployment.repo_id).in_(ids))
    by_repo = [
        (model, col(model.repo_id).in_(ids))
        for model in (DoraCause, DoraChange, DoraDeployment, Incident)
    ]
    return [
        *by_repo,
        (DeploymentStatus, col(DeploymentStatus.deployment_id).in_(deployments)),
        (Deployment, col(Deployment.repo_id).in_(ids)),
        (PullRequest, col(PullRequest.repo_id).in_(ids)),
        (WorkflowJob, col(WorkflowJob.run_id).in_(runs)),
        (WorkflowRun, col(WorkflowRun.repo_id).in_(ids)),
        (Workflow, col(Workflow.repo_id).in_(ids)),
        (WorkflowJobWeekly, col(WorkflowJobWeekly.repository).in_(names)),
        (WebhookDelivery, col(WebhookDelivery.repository).in_(names)),
        (Repository, col(Repository.id).in_(ids)),
    ]


def forget_demo(session: Session, github: GitHubConfig | None) -> int:
    """Delete the demo repositories the real configuration ``github`` does not name, with their
    workflows, runs, jobs, pull requests, deployments, incidents, DORA links, weekly roll-ups and
    webhook deliveries, in one transaction; then announce it. Returns how many repositories."""
    demo = select(Repository.id, Repository.full_name).where(
        col(Repository.full_name).startswith(f"{ORG}/")
    )
    names = {repo_id: name for repo_id, name in session.exec(demo) if not _named(name, github)}
    if not names:
        return 0
    # Lock them: a demo delivery being stored (its transaction upserts the repository row before
    # its other rows) commits before the deletes read, or writes the row anew after this commit,
    # and the next call removes it. Another worker doing this waits, then finds none left.
    locked = select(Repository.id).where(col(Repository.id).in_(names)).order_by(Repository.id)
    ids = list(session.exec(locked.with_for_update()))
    if not ids:
        session.rollback()
        return 0
    gone = [names[repo_id] for repo_id in ids]
    counts = {
        str(model.__tablename__): session.exec(delete(model).where(rows)).rowcount
        for model, rows in _deletions(ids, gone)
    }
    session.commit()
    bus = get_bus()
    for name in gone:
        for topic in (PIPELINES, DEPLOYMENTS):
            bus.publish(Event(topic=topic, keys={"repo": name}))
    log.info("github.demo_forgotten", repositories=gone, **counts)
    return len(ids)
