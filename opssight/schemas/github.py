"""The parts of GitHub REST and webhook payloads we keep (unknown fields are ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Account(_Payload):
    login: str
    id: int | None = None
    avatar_url: str | None = None


class Repo(_Payload):
    id: int
    name: str
    full_name: str
    owner: Account
    html_url: str | None = None
    default_branch: str | None = None


class PullRequestRef(_Payload):
    number: int


class Workflow(_Payload):
    """An item of ``GET /repos/{o}/{r}/actions/workflows``."""

    id: int
    name: str
    path: str
    state: str
    html_url: str | None = None
    created_at: datetime
    updated_at: datetime


class WorkflowRun(_Payload):
    id: int
    run_attempt: int = 1
    workflow_id: int | None = None
    name: str | None = None
    display_title: str | None = None
    run_number: int
    event: str
    status: str | None = None
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str
    path: str | None = None
    actor: Account | None = None
    created_at: datetime
    updated_at: datetime
    run_started_at: datetime | None = None
    html_url: str | None = None
    pull_requests: list[PullRequestRef] = Field(default_factory=list)


class Step(_Payload):
    name: str
    status: str
    conclusion: str | None = None
    number: int
    started_at: datetime | None = None
    completed_at: datetime | None = None


class WorkflowJob(_Payload):
    id: int
    run_id: int
    run_attempt: int = 1
    name: str
    workflow_name: str | None = None
    status: str
    conclusion: str | None = None
    head_sha: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    runner_name: str | None = None
    labels: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    html_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _created_when_started(cls, data: Any) -> Any:
        """Older GitHub versions send no ``created_at``: the job's start stands in (the key)."""
        if isinstance(data, dict) and data.get("created_at") is None:
            return {**data, "created_at": data.get("started_at")}
        return data


class GitRef(_Payload):
    ref: str
    sha: str


class PullRequest(_Payload):
    id: int
    number: int
    title: str
    state: str
    user: Account | None = None
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    head: GitRef
    base: GitRef
    html_url: str | None = None


class Deployment(_Payload):
    id: int
    sha: str
    ref: str
    task: str | None = None
    environment: str
    production_environment: bool | None = None
    creator: Account | None = None
    created_at: datetime
    updated_at: datetime | None = None


class DeploymentStatus(_Payload):
    id: int
    state: str
    environment: str | None = None
    description: str | None = None
    created_at: datetime


class InstallationToken(_Payload):
    """The answer of ``POST /app/installations/{id}/access_tokens``."""

    token: str
    expires_at: datetime


class Label(_Payload):
    name: str


class Issue(_Payload):
    """An issue of a webhook or of ``GET /repos/{o}/{r}/issues`` (which lists pull requests
    too: those carry ``pull_request``)."""

    id: int
    number: int
    title: str
    state: str
    html_url: str | None = None
    labels: list[Label] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    pull_request: dict[str, Any] | None = None


class CommitAuthor(_Payload):
    date: datetime | None = None


class CommitDetail(_Payload):
    author: CommitAuthor | None = None
    committer: CommitAuthor | None = None


class Commit(_Payload):
    """An item of ``GET /repos/{o}/{r}/pulls/{n}/commits`` (or ``/commits``)."""

    sha: str
    commit: CommitDetail

    @property
    def authored_at(self) -> datetime | None:
        author = self.commit.author or self.commit.committer
        return author.date if author else None


# ---- webhook envelopes: one per event we ingest ----


class WorkflowRunEvent(_Payload):
    action: str
    workflow_run: WorkflowRun
    repository: Repo


class WorkflowJobEvent(_Payload):
    action: str
    workflow_job: WorkflowJob
    repository: Repo


class PullRequestEvent(_Payload):
    action: str
    pull_request: PullRequest
    repository: Repo


class DeploymentEvent(_Payload):
    action: str | None = None
    deployment: Deployment
    repository: Repo


class DeploymentStatusEvent(_Payload):
    action: str | None = None
    deployment_status: DeploymentStatus
    deployment: Deployment
    repository: Repo


class IssuesEvent(_Payload):
    action: str
    issue: Issue
    label: Label | None = None
    """The label added or removed (``labeled``/``unlabeled``)."""
    repository: Repo


class PushEvent(_Payload):
    ref: str
    after: str
    repository: Repo
    commits: list[dict[str, Any]] = Field(default_factory=list)


class PingEvent(_Payload):
    zen: str | None = None
    hook_id: int | None = None
    repository: Repo | None = None
