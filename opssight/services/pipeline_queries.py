"""Pipeline reads for the UI: filtered runs (paginated in SQL), run detail, stats, flaky runs."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, union
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from opssight.models import Repository, Workflow, WorkflowJob, WorkflowRun
from opssight.services.pipelines import WORKFLOW_DELETED

RunState = Literal["", "success", "failure", "cancelled", "in_progress", "queued"]
PAGE_SIZE = 25


class RunFilter(BaseModel):
    repo: str = ""
    team: str = ""  # a team's slug: its repositories only
    workflow: str = ""
    branch: str = ""
    state: RunState = ""
    search: str = Field(default="", max_length=200)
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=100)


class RunRow(BaseModel):
    run_id: int
    attempt: int
    repo: str
    workflow: str
    title: str
    branch: str
    event: str
    actor: str
    state: str
    head_sha: str
    created_at: datetime
    started_at: datetime | None
    duration_s: float | None
    queue_s: float | None
    html_url: str


class RunPage(BaseModel):
    rows: list[RunRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


class StepRow(BaseModel):
    number: int
    name: str
    state: str
    started_at: datetime | None
    completed_at: datetime | None


class JobRow(BaseModel):
    id: int
    name: str
    state: str
    runner: str
    started_at: datetime | None
    completed_at: datetime | None
    steps: list[StepRow]


class RunDetail(BaseModel):
    run: RunRow
    jobs: list[JobRow]
    attempts: list[int]


class WorkflowStats(BaseModel):
    repo: str
    workflow: str
    week: datetime | None = None
    runs: int
    success_rate: float | None
    p50_s: float | None
    p95_s: float | None
    queue_p50_s: float | None


class FlakyRun(BaseModel):
    repo: str
    workflow: str
    run_id: int
    head_sha: str
    failed_attempt: int
    passed_attempt: int
    passed_at: datetime | None


def state_of(status: str, conclusion: str | None) -> str:
    return conclusion or status


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _row(run: WorkflowRun, repo: str) -> RunRow:
    return RunRow(
        run_id=run.run_id,
        attempt=run.attempt,
        repo=repo,
        workflow=run.workflow_name,
        title=run.title,
        branch=run.head_branch or "",
        event=run.event,
        actor=run.actor or "",
        state=state_of(run.status, run.conclusion),
        head_sha=run.head_sha,
        created_at=run.created_at,
        started_at=run.run_started_at,
        duration_s=seconds_between(run.run_started_at or run.created_at, run.completed_at),
        queue_s=seconds_between(run.created_at, run.run_started_at),
        html_url=run.html_url or "",
    )


def _scoped(statement: Any, repo: str, team: str) -> Any:
    """Only one repository's and/or one team's rows (the statement joins ``Repository``)."""
    if repo:
        statement = statement.where(Repository.full_name == repo)
    if team:
        statement = statement.where(Repository.team == team)
    return statement


def list_runs(session: Session, query: RunFilter) -> RunPage:
    statement = _scoped(
        select(WorkflowRun, Repository.full_name).join(
            Repository, Repository.id == WorkflowRun.repo_id
        ),
        query.repo,
        query.team,
    )
    if query.workflow:
        statement = statement.where(WorkflowRun.workflow_name == query.workflow)
    if query.branch:
        statement = statement.where(WorkflowRun.head_branch == query.branch)
    if query.state in ("in_progress", "queued"):
        statement = statement.where(WorkflowRun.status == query.state)
    elif query.state:
        statement = statement.where(WorkflowRun.conclusion == query.state)
    if query.search.strip():
        term = f"%{query.search.strip().lower()}%"
        statement = statement.where(
            or_(
                func.lower(WorkflowRun.title).like(term),
                func.lower(WorkflowRun.head_branch).like(term),
                func.lower(WorkflowRun.actor).like(term),
                func.lower(WorkflowRun.workflow_name).like(term),
                WorkflowRun.head_sha.startswith(query.search.strip().lower()),
            )
        )
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    ordered = statement.order_by(
        WorkflowRun.created_at.desc(), WorkflowRun.run_id.desc(), WorkflowRun.attempt.desc()
    )
    page = ordered.offset((query.page - 1) * query.page_size).limit(query.page_size)
    rows = [_row(run, repo) for run, repo in session.exec(page)]
    return RunPage(rows=rows, total=total, page=query.page, page_size=query.page_size)


def run_detail(session: Session, run_id: int, attempt: int) -> RunDetail | None:
    found = session.exec(
        select(WorkflowRun, Repository.full_name)
        .join(Repository, Repository.id == WorkflowRun.repo_id)
        .where(WorkflowRun.run_id == run_id, WorkflowRun.attempt == attempt)
    ).first()
    if found is None:
        return None
    run, repo = found
    jobs = session.exec(
        select(WorkflowJob)
        .where(WorkflowJob.run_id == run_id, WorkflowJob.attempt == attempt)
        .order_by(WorkflowJob.started_at, WorkflowJob.id)
    )
    attempts = session.exec(
        select(WorkflowRun.attempt)
        .where(WorkflowRun.run_id == run_id)
        .order_by(WorkflowRun.attempt)
    )
    return RunDetail(
        run=_row(run, repo),
        jobs=[
            JobRow(
                id=job.id,
                name=job.name,
                state=state_of(job.status, job.conclusion),
                runner=job.runner_name or "",
                started_at=job.started_at,
                completed_at=job.completed_at,
                steps=[
                    StepRow(
                        number=step["number"],
                        name=step["name"],
                        state=step.get("conclusion") or step["status"],
                        started_at=step.get("started_at"),
                        completed_at=step.get("completed_at"),
                    )
                    for step in job.steps
                ],
            )
            for job in jobs
        ],
        attempts=list(attempts),
    )


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _stats(repo: str, workflow: str, week: datetime | None, runs: list[RunRow]) -> WorkflowStats:
    finished = [r for r in runs if r.state in ("success", "failure", "cancelled", "timed_out")]
    decided = [r for r in finished if r.state in ("success", "failure", "timed_out")]
    durations = [r.duration_s for r in finished if r.duration_s is not None]
    queues = [r.queue_s for r in runs if r.queue_s is not None]
    successes = sum(r.state == "success" for r in decided)
    return WorkflowStats(
        repo=repo,
        workflow=workflow,
        week=week,
        runs=len(runs),
        success_rate=successes / len(decided) if decided else None,
        p50_s=percentile(durations, 0.5),
        p95_s=percentile(durations, 0.95),
        queue_p50_s=percentile(queues, 0.5),
    )


def _runs_since(session: Session, since: datetime, repo: str, team: str) -> Iterable[RunRow]:
    statement = _scoped(
        select(WorkflowRun, Repository.full_name)
        .join(Repository, Repository.id == WorkflowRun.repo_id)
        .where(WorkflowRun.created_at >= since),
        repo,
        team,
    )
    return (_row(run, name) for run, name in session.exec(statement))


def week_of(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the moment's week."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def workflow_stats(
    session: Session, *, since: datetime, repo: str = "", team: str = "", weekly: bool = False
) -> list[WorkflowStats]:
    """Per workflow (and per week when ``weekly``): success rate, p50/p95 duration, queue p50."""
    groups: dict[tuple[str, str, datetime | None], list[RunRow]] = defaultdict(list)
    for run in _runs_since(session, since, repo, team):
        groups[(run.repo, run.workflow, week_of(run.created_at) if weekly else None)].append(run)
    stats = [_stats(r, w, week, runs) for (r, w, week), runs in groups.items()]
    return sorted(stats, key=lambda s: (s.repo, s.workflow, s.week or since))


def flaky_runs(
    session: Session, *, since: datetime, team: str = "", limit: int = 20
) -> list[FlakyRun]:
    """Runs that failed and then passed on a re-run of the same commit."""
    failed, passed = aliased(WorkflowRun), aliased(WorkflowRun)
    statement = _scoped(
        select(failed, passed.attempt, passed.completed_at, Repository.full_name)
        .join(passed, (passed.run_id == failed.run_id) & (passed.attempt > failed.attempt))
        .join(Repository, Repository.id == failed.repo_id)
        .where(
            failed.conclusion.in_(("failure", "timed_out")),
            passed.conclusion == "success",
            failed.created_at >= since,
        )
        .order_by(passed.completed_at.desc())
        .limit(limit),
        "",
        team,
    )
    return [
        FlakyRun(
            repo=repo,
            workflow=run.workflow_name,
            run_id=run.run_id,
            head_sha=run.head_sha,
            failed_attempt=run.attempt,
            passed_attempt=attempt,
            passed_at=passed_at,
        )
        for run, attempt, passed_at, repo in session.exec(statement)
    ]


def filter_options(session: Session) -> tuple[list[str], list[str], list[str]]:
    """Repositories, workflows (those that ran, and those defined and not deleted, which may
    not have run yet) and teams (those owning a repository) to filter by."""
    repos = session.exec(select(Repository.full_name).order_by(Repository.full_name))
    names = union(
        select(WorkflowRun.workflow_name.label("name")),
        select(Workflow.name.label("name")).where(Workflow.state != WORKFLOW_DELETED),
    ).subquery()
    workflows = session.exec(select(names.c.name).order_by(names.c.name))
    teams = session.exec(
        select(Repository.team)
        .where(Repository.team.is_not(None))
        .distinct()
        .order_by(Repository.team)
    )
    return list(repos), list(workflows), list(teams)
