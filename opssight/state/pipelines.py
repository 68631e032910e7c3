"""Pipelines: filtered runs (server-side pages), per-workflow stats and trends, flaky runs and a
run's jobs and steps; refreshed live from the ``pipelines`` topic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import plotly.graph_objects as go
import reflex as rx
import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.models import ConnectorStatus
from opssight.services import cache
from opssight.services import pipeline_queries as q
from opssight.state.charts import Rows, frozen, plotted, styled, thawed
from opssight.state.formatting import duration, percent, when
from opssight.state.inputs import ALL, single
from opssight.state.live import live_view
from opssight.state.session import protected
from opssight.state.team_scope import callers_team

log = structlog.get_logger(__name__)

WINDOWS = {"7": 7, "30": 30, "90": 90}
TOPICS = ("pipelines", "connectors")


class Params(NamedTuple):
    filter: q.RunFilter
    days: int
    run: tuple[int, int] | None


class Stats(BaseModel):
    """Per-workflow statistics, weekly trends and flaky runs: the page's aggregate queries."""

    stats: list[q.WorkflowStats]
    weekly: list[q.WorkflowStats]
    flaky: list[q.FlakyRun]


class PipelinesData(BaseModel):
    page: q.RunPage
    stats: list[q.WorkflowStats]
    weekly: list[q.WorkflowStats]
    flaky: list[q.FlakyRun]
    repos: list[str]
    workflows: list[str]
    teams: list[str]
    detail: q.RunDetail | None
    connector: dict[str, str]
    connector_facts: list[dict[str, str]]


def _run_cells(row: q.RunRow) -> dict[str, str]:
    return {
        "key": f"{row.run_id}:{row.attempt}",
        "run_id": str(row.run_id),
        "attempt": str(row.attempt),
        "repo": row.repo,
        "workflow": row.workflow,
        "title": row.title,
        "branch": row.branch,
        "event": row.event,
        "actor": row.actor,
        "state": row.state,
        "sha": row.head_sha[:7],
        "queued": when(row.created_at),
        "started": when(row.started_at),
        "duration": duration(row.duration_s),
        "queue": duration(row.queue_s),
        "url": row.html_url,
    }


def _stats(session, days: int, repo: str, team: str) -> Stats:
    since = datetime.now(UTC) - timedelta(days=days)
    return Stats(
        stats=q.workflow_stats(session, since=since, repo=repo, team=team),
        weekly=q.workflow_stats(session, since=since, repo=repo, team=team, weekly=True),
        flaky=q.flaky_runs(session, since=since, team=team, limit=10),
    )


def _fetch(params: Params) -> PipelinesData:
    """The page's data, cached until a ``pipelines`` or ``connectors`` event (services.cache):
    every open tab re-reads on each event, most with the same filters."""
    return cache.get_or_set(
        f"pipelines:{params.filter.model_dump_json()}:{params.days}:{params.run}",
        lambda: _compute(params),
        topics=TOPICS,
        model=PipelinesData,
    )


def _compute(params: Params) -> PipelinesData:
    with db.read_session_scope() as session:
        repos, workflows, teams = q.filter_options(session)
        repo, team = params.filter.repo, params.filter.team
        stats = cache.get_or_set(  # shared by every page and search of these filters
            f"pipelines.stats:{params.days}:{repo}:{team}",
            lambda: _stats(session, params.days, repo, team),
            topics=TOPICS,
            model=Stats,
        )
        return PipelinesData(
            page=q.list_runs(session, params.filter),
            stats=stats.stats,
            weekly=stats.weekly,
            flaky=stats.flaky,
            repos=repos,
            workflows=workflows,
            teams=teams,
            detail=q.run_detail(session, *params.run) if params.run else None,
            **_connector(session.get(ConnectorStatus, "github")),
        )


def _connector(row: ConnectorStatus | None) -> dict:
    """The ``github`` connector panel: state, error and its labelled figures."""
    if row is None:
        return {"connector": {}, "connector_facts": []}
    return {
        "connector": {
            "state": row.state,
            "demo": "demo" if row.is_demo else "",
            "checked": when(row.checked_at),
            "error": row.last_error or "",
            "error_at": when(row.last_error_at),
        },
        "connector_facts": [{"label": k, "value": v} for k, v in (row.facts or {}).items()],
    }


@live_view(*TOPICS)
class PipelinesState(rx.State):
    repo: str = ""
    team: str = ""
    workflow: str = ""
    branch: str = ""
    run_state: str = ""
    search: str = ""
    page: int = 1
    window: str = "30"
    runs: list[dict[str, str]] = []
    total: int = 0
    pages: int = 1
    repos: list[str] = []
    workflows: list[str] = []
    teams: list[str] = []
    stats: list[dict[str, str]] = []
    weekly: list[dict[str, str]] = []
    flaky: list[dict[str, str]] = []
    selected: dict[str, str] = {}
    jobs: list[dict[str, str]] = []
    steps: list[dict[str, str]] = []
    attempts: list[str] = []
    connector: dict[str, str] = {}
    connector_facts: list[dict[str, str]] = []
    loaded: bool = False
    error: str = ""

    def _params(self) -> Params:
        run = None
        if self.selected:
            run = (int(self.selected["run_id"]), int(self.selected["attempt"]))
        query = q.RunFilter(
            repo=self.repo,
            team=self.team,
            workflow=self.workflow,
            branch=self.branch,
            state=self.run_state,
            search=self.search,
            page=self.page,
        )
        return Params(query, WINDOWS.get(self.window, 30), run)

    def _live_params(self) -> Params | None:
        return self._params() if self.loaded else None

    @staticmethod
    def _fetch(params: Params) -> PipelinesData:
        return _fetch(params)

    def _apply(self, data: PipelinesData) -> None:
        self.runs = [_run_cells(row) for row in data.page.rows]
        self.total, self.pages = data.page.total, data.page.pages
        self.page = min(self.page, self.pages)
        self.repos, self.workflows, self.teams = data.repos, data.workflows, data.teams
        self.stats = [self._stats_cells(s) for s in data.stats]
        self.weekly = [self._stats_cells(s) for s in data.weekly]
        self.flaky = [
            {
                "repo": f.repo,
                "workflow": f.workflow,
                "run_id": str(f.run_id),
                "sha": f.head_sha[:7],
                "attempts": f"failed #{f.failed_attempt}, passed #{f.passed_attempt}",
                "passed": when(f.passed_at),
            }
            for f in data.flaky
        ]
        self._apply_detail(data.detail)
        self.connector, self.connector_facts = data.connector, data.connector_facts
        self.loaded, self.error = True, ""

    @staticmethod
    def _stats_cells(s: q.WorkflowStats) -> dict[str, str]:
        return {
            "repo": s.repo,
            "workflow": s.workflow,
            "week": s.week.date().isoformat() if s.week else "",
            "runs": str(s.runs),
            "success": percent(s.success_rate),
            "success_value": "" if s.success_rate is None else f"{s.success_rate:.4f}",
            "p50": duration(s.p50_s),
            "p95": duration(s.p95_s),
            "p50_value": "" if s.p50_s is None else f"{s.p50_s:.1f}",
            "queue": duration(s.queue_p50_s),
        }

    def _apply_detail(self, detail: q.RunDetail | None) -> None:
        if detail is None:
            self.selected, self.jobs, self.steps, self.attempts = {}, [], [], []
            return
        self.selected = _run_cells(detail.run)
        self.attempts = [str(a) for a in detail.attempts]
        self.jobs = [
            {
                "id": str(job.id),
                "name": job.name,
                "state": job.state,
                "runner": job.runner,
                "start": job.started_at.isoformat() if job.started_at else "",
                "end": job.completed_at.isoformat() if job.completed_at else "",
                "duration": duration(q.seconds_between(job.started_at, job.completed_at)),
            }
            for job in detail.jobs
        ]
        self.steps = [
            {
                "job": job.name,
                "name": f"{job.name} > {step.name}",
                "state": step.state,
                "start": step.started_at.isoformat() if step.started_at else "",
                "end": step.completed_at.isoformat() if step.completed_at else "",
            }
            for job in detail.jobs
            for step in job.steps
        ]

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self._params()))
        except ValidationError:
            log.info("pipelines.bad_filter")
            self.run_state, self.page = "", 1
        except SQLAlchemyError as exc:
            log.error("pipelines.load_failed", error=str(exc))
            self.error = "The database is unreachable; runs cannot be shown right now."

    @rx.event
    @protected("read")
    async def load(self) -> None:
        """The first visit opens on the person's own team (when it owns repositories);
        ``?run=<id>&attempt=<n>`` opens that run, ``?repo=&search=`` filters (timeline links)."""
        link = self.router.url.query_parameters
        if not self.loaded and not link:
            self.team = await callers_team()
        if str(link.get("run", "")).isdigit():
            attempt = str(link.get("attempt", "1"))
            attempt = attempt if attempt.isdigit() else "1"
            self.selected = {"run_id": str(link["run"]), "attempt": attempt}
        if "repo" in link or "search" in link:
            self.team, self.page = "", 1
            self.repo = str(link.get("repo", ""))[:200]
            self.search = str(link.get("search", ""))[:200]
        await self._reload()

    @rx.event
    @protected("read")
    async def filter_team(self, value: str) -> None:
        self.team, self.page = ("" if value == ALL else value[:200]), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def filter_repo(self, value: str) -> None:
        self.repo, self.page = ("" if value == ALL else value), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def filter_workflow(self, value: str) -> None:
        self.workflow, self.page = ("" if value == ALL else value), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def filter_state(self, value: str) -> None:
        self.run_state, self.page = ("" if value == ALL else value), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def filter_branch(self, value: str) -> None:
        self.branch, self.page = value.strip()[:300], 1
        await self._reload()

    @rx.event
    @protected("read")
    async def filter_search(self, value: str) -> None:
        self.search, self.page = value[:200], 1
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_window(self, value: str | list[str]) -> None:
        self.window = single(value) if single(value) in WINDOWS else "30"
        await self._reload()

    @rx.event
    @protected("read")
    async def go_to_page(self, delta: int) -> None:
        step = delta if isinstance(delta, int) and abs(delta) <= 1 else 0  # a forged event
        self.page = max(1, min(self.pages, self.page + step))
        await self._reload()

    @rx.event
    @protected("read")
    async def open_run(self, run_id: str, attempt: str) -> None:
        if not (str(run_id).isdigit() and str(attempt).isdigit()):
            return
        self.selected = {"run_id": run_id, "attempt": attempt}
        await self._reload()

    @rx.event
    def close_run(self) -> None:
        self._apply_detail(None)

    @rx.var
    def trend_figure(self) -> dict[str, Any]:
        """Weekly p50 duration and success rate per workflow."""
        return _trend_figure(frozen(self.weekly))

    @rx.var
    def timeline_figure(self) -> dict[str, Any]:
        """The selected run's jobs and steps as a timeline (one bar per job and step)."""
        return _timeline_figure(frozen(self.jobs), frozen(self.steps))


@lru_cache(maxsize=64)
def _trend_figure(weekly: Rows) -> dict[str, Any]:
    """Weekly p50 duration and success rate per workflow (one figure per process and rows)."""
    figure = go.Figure()
    by_workflow: dict[str, list[dict[str, str]]] = {}
    for point in thawed(weekly):
        by_workflow.setdefault(f"{point['repo']} · {point['workflow']}", []).append(point)
    for name, points in by_workflow.items():
        timed = [p for p in points if p["p50_value"]]
        figure.add_trace(
            go.Scatter(
                x=[p["week"] for p in timed],
                y=[float(p["p50_value"]) / 60 for p in timed],
                name=f"{name} p50 (min)",
                mode="lines+markers",
            )
        )
        rated = [p for p in points if p["success_value"]]
        figure.add_trace(
            go.Scatter(
                x=[p["week"] for p in rated],
                y=[float(p["success_value"]) * 100 for p in rated],
                name=f"{name} success %",
                mode="lines+markers",
                yaxis="y2",
                line={"dash": "dot"},
            )
        )
    return plotted(
        styled(
            figure,
            height=320,
            margin={"l": 40, "r": 40, "t": 10, "b": 40},
            yaxis={"title": "p50 duration (min)", "rangemode": "tozero"},
            yaxis2={"title": "success %", "overlaying": "y", "side": "right", "range": [0, 105]},
            legend={"orientation": "h"},
        )
    )


@lru_cache(maxsize=64)
def _timeline_figure(jobs: Rows, steps: Rows) -> dict[str, Any]:
    """The selected run's jobs and steps as a timeline (one bar per job and step)."""
    bars = [
        *({"name": j["name"], **j} for j in thawed(jobs)),
        *thawed(steps),
    ]
    bars = [b for b in bars if b["start"] and b["end"]]
    colors = {"success": "#30a46c", "failure": "#e5484d", "cancelled": "#8b8d98"}
    figure = go.Figure()
    for bar in bars:
        start = datetime.fromisoformat(bar["start"])
        seconds = (datetime.fromisoformat(bar["end"]) - start).total_seconds()
        figure.add_trace(
            go.Bar(
                y=[bar["name"]],
                x=[seconds * 1000],
                base=[bar["start"]],
                orientation="h",
                marker={"color": colors.get(bar["state"], "#f5a524")},
                hovertext=f"{bar['name']}: {duration(seconds)} ({bar['state']})",
                hoverinfo="text",
                showlegend=False,
            )
        )
    return plotted(
        styled(
            figure,
            height=max(160, 28 * len(bars) + 60),
            margin={"l": 10, "r": 10, "t": 10, "b": 30},
            xaxis={"type": "date"},
            yaxis={"autorange": "reversed", "automargin": True},
            barmode="overlay",
        )
    )
