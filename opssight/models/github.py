"""GitHub data: repositories, workflows, workflow runs (every attempt), jobs, pull requests,
deployments.

Primary keys are GitHub's own ids (natural keys), so webhook redeliveries and reconciliation
polls upsert the same rows instead of adding new ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


def _github_id(**kwargs: Any) -> Any:
    return Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False), **kwargs)


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    default = {} if nullable is False else {"default": None}
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index), **default)


class Repository(SQLModel, table=True):
    id: int = _github_id()
    full_name: str = Field(max_length=200, unique=True, index=True)
    html_url: str | None = Field(default=None, max_length=500)
    default_branch: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=100, index=True)


class Workflow(SQLModel, table=True):
    """A workflow file of a repository; ``state`` is GitHub's (``active``, ``disabled_manually``,
    ...), or ``deleted`` once the workflow is no longer listed."""

    id: int = _github_id()
    repo_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    name: str = Field(max_length=200)
    path: str = Field(max_length=500)
    state: str = Field(max_length=30)
    html_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class WorkflowRun(SQLModel, table=True):
    """One attempt of a run: the key is (run_id, attempt)."""

    __tablename__ = "workflow_run"
    __table_args__ = (
        Index("ix_workflow_run_repo_created", "repo_id", "created_at"),
        # DORA reads successful runs of deploy workflows by name and completion time
        Index(
            "ix_workflow_run_deploys",
            "workflow_name",
            "completed_at",
            postgresql_include=["repo_id", "run_id", "attempt", "head_sha"],
            postgresql_where=text("status = 'completed' AND conclusion = 'success'"),
            sqlite_where=text("status = 'completed' AND conclusion = 'success'"),
        ),
    )

    run_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    attempt: int = Field(primary_key=True)
    repo_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    workflow_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    workflow_name: str = Field(max_length=200)
    run_number: int
    title: str = Field(default="", max_length=500)
    event: str = Field(max_length=50)
    status: str = Field(max_length=30)
    conclusion: str | None = Field(default=None, max_length=30)
    head_branch: str | None = Field(default=None, max_length=300)
    head_sha: str = Field(max_length=64, index=True)
    actor: str | None = Field(default=None, max_length=100)
    html_url: str | None = Field(default=None, max_length=500)
    pull_requests: list[int] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = _when(nullable=False, index=True)
    run_started_at: datetime | None = _when()
    updated_at: datetime = _when(nullable=False)
    completed_at: datetime | None = _when()


class WorkflowJob(SQLModel, table=True):
    """A job of a run attempt. On PostgreSQL the table is partitioned by month on
    ``created_at`` (``models.history``), so the key is (id, created_at): GitHub's creation time
    never changes, so a redelivery still finds its row."""

    __tablename__ = "workflow_job"
    __table_args__ = {"postgresql_partition_by": "RANGE (created_at)"}

    id: int = _github_id()
    run_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    attempt: int = 1
    name: str = Field(max_length=300)
    status: str = Field(max_length=30)
    progress: int = 0
    conclusion: str | None = Field(default=None, max_length=30)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    started_at: datetime | None = _when()
    completed_at: datetime | None = _when()
    runner_name: str | None = Field(default=None, max_length=200)
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    html_url: str | None = Field(default=None, max_length=500)


class PullRequest(SQLModel, table=True):
    __tablename__ = "pull_request"
    __table_args__ = (UniqueConstraint("repo_id", "number"),)

    id: int = _github_id()
    repo_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    number: int
    title: str = Field(max_length=500)
    state: str = Field(max_length=20)
    author: str | None = Field(default=None, max_length=100)
    head_sha: str = Field(max_length=64)
    base_ref: str = Field(max_length=300)
    merge_commit_sha: str | None = Field(default=None, max_length=64, index=True)
    html_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)
    merged_at: datetime | None = _when(index=True)
    closed_at: datetime | None = _when()
    first_commit_at: datetime | None = _when()


class Deployment(SQLModel, table=True):
    __table_args__ = (
        Index(
            "ix_deployment_production_repo",
            "repo_id",
            "succeeded_at",
            postgresql_where=text("production"),
            sqlite_where=text("production"),
        ),
    )

    id: int = _github_id()
    repo_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    sha: str = Field(max_length=64, index=True)
    ref: str = Field(max_length=300)
    environment: str = Field(max_length=200)
    production: bool = False
    creator: str | None = Field(default=None, max_length=100)
    created_at: datetime = _when(nullable=False, index=True)
    state: str | None = Field(default=None, max_length=30)
    state_at: datetime | None = _when()
    succeeded_at: datetime | None = _when(index=True)


class DeploymentStatus(SQLModel, table=True):
    __tablename__ = "deployment_status"

    id: int = _github_id()
    deployment_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    state: str = Field(max_length=30)
    environment: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when(nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """Each ``X-GitHub-Delivery`` seen: a redelivery is acknowledged and ignored."""

    __tablename__ = "webhook_delivery"

    id: str = Field(primary_key=True, max_length=64)
    event: str = Field(max_length=50)
    action: str | None = Field(default=None, max_length=50)
    repository: str | None = Field(default=None, max_length=200)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
