"""DORA: the four keys over a window, per repository or team, each figure opening the rows it
was computed from; refreshed live from the ``deployments`` and ``pipelines`` topics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import plotly.graph_objects as go
import reflex as rx
import structlog
from plotly.subplots import make_subplots
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from opssight import db
from opssight.config import get_settings
from opssight.models import Repository
from opssight.services import cache, dora
from opssight.state.charts import Rows, frozen, plotted, styled, thawed
from opssight.state.formatting import duration, when
from opssight.state.inputs import ALL, single
from opssight.state.live import live_view
from opssight.state.session import protected
from opssight.state.team_scope import callers_team

log = structlog.get_logger(__name__)

WINDOWS = {"30": 30, "90": 90, "180": 180}
LISTS = ("deployments", "pulls", "incidents")
TOPICS = ("deployments", "pipelines")


class Params(NamedTuple):
    days: int
    repo: str
    team: str
    drill: str


class DoraData(BaseModel):
    report: dora.DoraReport
    repos: dict[int, str]
    teams: list[str]
    rows: list[dict[str, str]]


def _ref(ref: dora.DeploymentRef) -> str:
    kind, ref_id = ref
    return f"deployment {ref_id}" if kind == "deployment" else f"deploy run {ref_id}"


def _rows(session, drill: str, scope: dict, repos: dict[int, str]) -> list[dict[str, str]]:
    name = lambda repo_id: repos.get(repo_id, "—") if repo_id else "—"  # noqa: E731
    if drill == "deployments":
        return [
            {
                "repo": name(d.repo_id),
                "when": when(d.at),
                "what": _ref(d.ref),
                "sha": d.sha[:7],
                "extra": f"{len(d.incidents)} incident(s)" if d.incidents else "",
            }
            for d in dora.deployments_in(session, **scope)
        ]
    if drill == "pulls":
        return [
            {
                "repo": name(p.repo_id),
                "when": when(p.deployed_at),
                "what": f"#{p.number} {p.title}",
                "sha": _ref(p.deployment),
                "extra": f"lead time {duration(p.lead_time.total_seconds())}"
                f" from {p.started_from.replace('_', ' ')} · matched by {p.matched_by}",
            }
            for p in dora.deployed_pulls(session, **scope)
        ]
    if drill == "incidents":
        return [
            {
                "repo": name(i.repo_id),
                "when": when(i.created_at),
                "what": i.title,
                "sha": _ref(i.caused_by) if i.caused_by else "no cause found",
                "extra": f"restored in {duration(i.time_to_restore.total_seconds())}"
                if i.time_to_restore
                else (i.note or "unresolved"),
            }
            for i in dora.incidents_in(session, **scope)
        ]
    return []


def _fetch(params: Params) -> DoraData:
    """The report, cached until a ``deployments`` or ``pipelines`` event (services.cache): a
    year's report over a million runs takes ~80 ms, and every open tab re-reads on each event."""
    workflows = ",".join(get_settings().deploy_workflows)
    return cache.get_or_set(
        f"dora:{workflows}:{tuple(params)}", lambda: _compute(params), topics=TOPICS, model=DoraData
    )


def _compute(params: Params) -> DoraData:
    end = datetime.now(UTC)
    with db.read_session_scope() as session:
        repo_rows = session.exec(select(Repository.id, Repository.full_name, Repository.team))
        repos, teams, repo_ids = {}, set(), None
        for repo_id, full_name, team in repo_rows:
            repos[repo_id] = full_name
            if team:
                teams.add(team)
            if full_name == params.repo:
                repo_ids = [repo_id]
        if params.repo and repo_ids is None:
            repo_ids = []
        scope = {
            "start": end - timedelta(days=params.days),
            "end": end,
            "repo_ids": repo_ids,
            "team": params.team or None,
        }
        return DoraData(
            report=dora.dora_report(session, **scope),
            repos=repos,
            teams=sorted(teams),
            rows=_rows(session, params.drill, scope, repos),
        )


def _card(key: str, title: str, metric: dora.Metric, value: str, count: str) -> dict[str, str]:
    return {
        "key": key,
        "title": title,
        "value": value if metric.value is not None else "—",
        "unit": "" if metric.unit in ("duration", "ratio") else metric.unit,
        "level": metric.level or "",
        "reason": metric.reason or "",
        "count": count,
    }


def cards(report: dora.DoraReport) -> list[dict[str, str]]:
    df, lt = report.deployment_frequency, report.lead_time
    cfr, ttr = report.change_failure_rate, report.time_to_restore
    return [
        _card(
            "deployments",
            "Deployment frequency",
            df,
            f"{df.value}",
            f"{len(df.rows.deployments)} deployments",
        ),
        _card(
            "pulls",
            "Lead time for changes",
            lt,
            duration(lt.value.total_seconds()) if lt.value else "",
            f"{len(lt.rows.pulls)} pull requests",
        ),
        _card(
            "deployments",
            "Change failure rate",
            cfr,
            f"{cfr.value:.0%}" if cfr.value is not None else "",
            f"{cfr.failed_count} of {cfr.total} deployments",
        ),
        _card(
            "incidents",
            "Time to restore",
            ttr,
            duration(ttr.value.total_seconds()) if ttr.value else "",
            f"{len(ttr.rows.incidents)} incidents",
        ),
    ]


@live_view(*TOPICS)
class DoraState(rx.State):
    window: str = "90"
    repo: str = ""
    team: str = ""
    drill: str = ""
    cards: list[dict[str, str]] = []
    trends: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    repos: list[str] = []
    teams: list[str] = []
    loaded: bool = False
    error: str = ""

    def _params(self) -> Params:
        return Params(WINDOWS.get(self.window, 90), self.repo, self.team, self.drill)

    def _live_params(self) -> Params | None:
        return self._params() if self.loaded else None

    @staticmethod
    def _fetch(params: Params) -> DoraData:
        return _fetch(params)

    def _apply(self, data: DoraData) -> None:
        report = data.report
        self.cards = cards(report)
        trends = {
            "Deployment days per week": report.deployment_frequency.trend,
            "Lead time (hours)": report.lead_time.trend,
            "Change failure rate (%)": report.change_failure_rate.trend,
            "Time to restore (hours)": report.time_to_restore.trend,
        }
        self.trends = [
            {"series": series, "week": p.week_start.isoformat(), "value": _plain(p.value)}
            for series, points in trends.items()
            for p in points
        ]
        self.rows = data.rows
        self.repos, self.teams = sorted(data.repos.values()), data.teams
        self.loaded, self.error = True, ""

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self._params()))
        except SQLAlchemyError as exc:
            log.error("dora.load_failed", error=str(exc))
            self.error = "The database is unreachable; DORA figures cannot be computed right now."

    @rx.event
    @protected("read")
    async def load(self) -> None:
        """The first visit opens on the person's own team (when it owns repositories)."""
        if not self.loaded:
            self.team = await callers_team()
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_window(self, value: str | list[str]) -> None:
        self.window = single(value) if single(value) in WINDOWS else "90"
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_repo(self, value: str) -> None:
        self.repo = "" if value == ALL else value[:200]
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_team(self, value: str) -> None:
        self.team = "" if value == ALL else value[:100]
        await self._reload()

    @rx.event
    @protected("read")
    async def open_rows(self, drill: str) -> None:
        self.drill = drill if drill in LISTS else ""
        await self._reload()

    @rx.event
    def close_rows(self) -> None:
        self.drill, self.rows = "", []

    @rx.var
    def trend_figure(self) -> dict[str, Any]:
        return _trend_figure(frozen(self.trends))


@lru_cache(maxsize=64)
def _trend_figure(trends: Rows) -> dict[str, Any]:
    """The four trends, one chart each (one figure per process and rows)."""
    rows = thawed(trends)
    series = list(dict.fromkeys(p["series"] for p in rows))
    figure = make_subplots(rows=2, cols=2, subplot_titles=series or None)
    for index, name in enumerate(series):
        points = [p for p in rows if p["series"] == name and p["value"] != ""]
        figure.add_trace(
            go.Bar(
                x=[p["week"] for p in points],
                y=[float(p["value"]) for p in points],
                name=name,
                showlegend=False,
            ),
            row=index // 2 + 1,
            col=index % 2 + 1,
        )
    return plotted(styled(figure, height=480, margin={"l": 40, "r": 20, "t": 40, "b": 30}))


def _plain(value: object) -> str:
    """Trend values as chart numbers: hours for durations, percent for rates."""
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return f"{value.total_seconds() / 3600:.2f}"
    if isinstance(value, float):
        return f"{value * 100:.1f}"
    return str(value)
