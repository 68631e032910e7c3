"""What the Automation pages read: runs, one run's task-by-host matrix, hosts, the Overview card."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from opssight.models import (
    AutomationHost,
    AutomationPlay,
    AutomationResult,
    AutomationRun,
    AutomationRunHost,
    AutomationTask,
)
from opssight.models.base import utcnow

PAGE_SIZE = 25
RunStatus = Literal["", "running", "ok", "failed"]
FAILING = ("failed", "unreachable")


class RunFilter(BaseModel):
    status: RunStatus = ""
    search: str = Field(default="", max_length=200)
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=100)


class RunRow(BaseModel):
    id: str
    name: str
    playbook: str
    status: str
    user: str
    controller: str
    check_mode: bool
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    hosts: int
    failed_hosts: int


class RunPage(BaseModel):
    rows: list[RunRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


class Cell(BaseModel):
    """One task's result on one host (``status`` "" where the task did not run there)."""

    status: str = ""
    message: str = ""
    ignored: bool = False


class TaskRow(BaseModel):
    id: str
    play: str
    name: str
    action: str
    path: str
    handler: bool
    status: str
    started_at: datetime
    ended_at: datetime | None
    cells: list[Cell]

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class RunDetail(BaseModel):
    run: RunRow
    ansible_version: str
    extra_vars: dict[str, Any]
    arguments: dict[str, Any]
    hosts: list[str]
    host_stats: list[AutomationRunHost]
    tasks: list[TaskRow]
    """Failed (or unreachable) tasks first, then in the order they ran."""


class AutomationCard(BaseModel):
    """Ansible over the last 24 hours."""

    runs: int = 0
    running: int = 0
    failed: int = 0
    hosts: int = 0
    failing_hosts: int = 0


def _rows(session: Session, runs: list[AutomationRun]) -> list[RunRow]:
    ids = [r.id for r in runs]
    counts: dict[str, tuple[int, int]] = {}
    if ids:
        failing = AutomationRunHost.failed + AutomationRunHost.unreachable > 0
        failed = func.sum(case((failing, 1), else_=0))
        query = (
            select(AutomationRunHost.run_id, func.count(), failed)
            .where(col(AutomationRunHost.run_id).in_(ids))
            .group_by(AutomationRunHost.run_id)
        )
        counts = {run_id: (hosts, int(bad or 0)) for run_id, hosts, bad in session.exec(query)}
    return [
        RunRow(
            **run.model_dump(include=set(RunRow.model_fields) - {"hosts", "failed_hosts"}),
            hosts=counts.get(run.id, (0, 0))[0],
            failed_hosts=counts.get(run.id, (0, 0))[1],
        )
        for run in runs
    ]


def list_runs(session: Session, query: RunFilter) -> RunPage:
    """Newest first: one page of the runs matching the filter."""
    statement = select(AutomationRun)
    if query.status:
        statement = statement.where(AutomationRun.status == query.status)
    if query.search.strip():
        term = f"%{query.search.strip().lower()}%"
        statement = statement.where(
            or_(
                func.lower(AutomationRun.name).like(term),
                func.lower(AutomationRun.playbook).like(term),
                func.lower(AutomationRun.user).like(term),
                func.lower(AutomationRun.controller).like(term),
            )
        )
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    page = (
        statement.order_by(col(AutomationRun.started_at).desc(), col(AutomationRun.id).desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    )
    rows = _rows(session, list(session.exec(page)))
    return RunPage(rows=rows, total=total, page=query.page, page_size=query.page_size)


def recent_durations(session: Session, *, limit: int = 50) -> list[RunRow]:
    """The last ``limit`` finished runs, oldest first (the duration chart)."""
    runs = session.exec(
        select(AutomationRun)
        .where(col(AutomationRun.duration_s).is_not(None))
        .order_by(col(AutomationRun.started_at).desc())
        .limit(limit)
    ).all()
    return _rows(session, list(reversed(runs)))


def run_detail(session: Session, run_id: str) -> RunDetail | None:
    run = session.get(AutomationRun, run_id)
    if run is None:
        return None
    plays = dict(
        session.exec(
            select(AutomationPlay.id, AutomationPlay.name).where(AutomationPlay.run_id == run_id)
        ).all()
    )
    tasks = session.exec(
        select(AutomationTask)
        .where(AutomationTask.run_id == run_id)
        .order_by(AutomationTask.position, AutomationTask.started_at)
    ).all()
    results = session.exec(select(AutomationResult).where(AutomationResult.run_id == run_id)).all()
    stats = list(
        session.exec(
            select(AutomationRunHost)
            .where(AutomationRunHost.run_id == run_id)
            .order_by(AutomationRunHost.host)
        )
    )
    hosts = sorted({r.host for r in results} | {s.host for s in stats})
    by_key = {(r.task_id, r.host): r for r in results}
    rows = [
        TaskRow(
            id=t.id,
            play=plays.get(t.play_id, ""),
            name=t.name,
            action=t.action,
            path=t.path,
            handler=t.handler,
            status=t.status,
            started_at=t.started_at,
            ended_at=t.ended_at,
            cells=[
                Cell(status=r.status, message=r.message, ignored=r.ignore_errors)
                if (r := by_key.get((t.id, h)))
                else Cell()
                for h in hosts
            ],
        )
        for t in tasks
    ]
    rows.sort(key=lambda row: row.status not in FAILING)  # stable: run order otherwise
    return RunDetail(
        run=_rows(session, [run])[0],
        ansible_version=run.ansible_version,
        extra_vars=run.extra_vars or {},
        arguments=run.arguments or {},
        hosts=hosts,
        host_stats=stats,
        tasks=rows,
    )


def list_hosts(session: Session, search: str = "") -> list[AutomationHost]:
    """Every host with its latest result, failing ones first, then by name."""
    statement = select(AutomationHost)
    if search.strip():
        statement = statement.where(
            func.lower(AutomationHost.name).like(f"%{search.strip().lower()[:200]}%")
        )
    hosts = list(session.exec(statement.order_by(AutomationHost.name)))
    return sorted(hosts, key=lambda h: h.last_status not in FAILING)


def automation_card(session: Session) -> AutomationCard:
    since = utcnow() - timedelta(hours=24)
    statuses = session.exec(
        select(AutomationRun.status).where(AutomationRun.started_at >= since)
    ).all()
    hosts = session.exec(select(AutomationHost.last_status)).all()
    return AutomationCard(
        runs=len(statuses),
        running=statuses.count("running"),
        failed=statuses.count("failed"),
        hosts=len(hosts),
        failing_hosts=sum(s in FAILING for s in hosts),
    )
