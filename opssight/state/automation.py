"""Automation: Ansible runs (filtered, server-side pages, a duration chart), one run's task-by-host
matrix with failed tasks first, and the hosts with their latest result. Live from the
``automation`` topic, so a playbook that is running fills in as it goes."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any, NamedTuple

import plotly.graph_objects as go
import reflex as rx
import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.services.automation import queries as q
from opssight.state.charts import Rows, frozen, plotted, styled, thawed
from opssight.state.formatting import ago, duration, when
from opssight.state.inputs import ALL
from opssight.state.live import live_view
from opssight.state.session import protected

log = structlog.get_logger(__name__)

STATUSES = [ALL, "running", "ok", "failed"]
TONES = {"ok": "ok", "changed": "degraded", "running": "degraded", "skipped": "unknown"}
COLORS = {"ok": "#30a46c", "changed": "#f5a524", "failed": "#e5484d", "unreachable": "#e5484d"}


def tone(status: str) -> str:
    return TONES.get(status, "down" if status in ("failed", "unreachable") else "unknown")


class Params(NamedTuple):
    filter: q.RunFilter
    run: str


class AutomationData(BaseModel):
    page: q.RunPage
    durations: list[q.RunRow]
    detail: q.RunDetail | None


def _fetch(params: Params) -> AutomationData:
    with db.session_scope() as session:
        return AutomationData(
            page=q.list_runs(session, params.filter),
            durations=q.recent_durations(session),
            detail=q.run_detail(session, params.run) if params.run else None,
        )


def _run_cells(row: q.RunRow) -> dict[str, str]:
    return {
        "id": row.id,
        "name": row.name or row.playbook,
        "playbook": row.playbook,
        "status": row.status,
        "tone": tone(row.status),
        "who": f"{row.user}@{row.controller}",
        "check": "check mode" if row.check_mode else "",
        "started": when(row.started_at),
        "ago": ago(row.started_at),
        "duration": duration(row.duration_s) if row.duration_s is not None else "running",
        "hosts": f"{row.hosts} host(s)"
        + (f", {row.failed_hosts} failed" if row.failed_hosts else ""),
        "start_iso": row.started_at.isoformat(),
        "seconds": "" if row.duration_s is None else f"{row.duration_s:.3f}",
    }


def _cell(cell: q.Cell) -> dict[str, str]:
    shown = "ignored" if cell.ignored and cell.status == "failed" else cell.status
    return {
        "status": shown or "—",
        "tone": tone(shown) if shown else "none",
        "message": cell.message,
    }


@live_view("automation")
class AutomationState(rx.State):
    status_filter: str = ""
    search: str = ""
    page: int = 1
    pages: int = 1
    total: int = 0
    runs: list[dict[str, str]] = []
    durations: list[dict[str, str]] = []
    run: dict[str, str] = {}
    hosts: list[str] = []
    tasks: list[dict[str, str]] = []
    cells: list[list[dict[str, str]]] = []
    host_stats: list[dict[str, str]] = []
    variables: list[dict[str, str]] = []
    missing: str = ""  # a linked run that is not (or no longer) stored
    loaded: bool = False
    error: str = ""

    def _params(self) -> Params:
        query = q.RunFilter(status=self.status_filter, search=self.search, page=self.page)
        return Params(query, self.run.get("id", ""))

    def _live_params(self) -> Params | None:
        return self._params() if self.loaded else None

    @staticmethod
    def _fetch(params: Params) -> AutomationData:
        return _fetch(params)

    def _apply(self, data: AutomationData) -> None:
        self.runs = [_run_cells(r) for r in data.page.rows]
        self.total, self.pages = data.page.total, data.page.pages
        self.page = min(self.page, self.pages)
        self.durations = [_run_cells(r) for r in data.durations]
        self._apply_detail(data.detail)
        self.loaded, self.error = True, ""

    def _apply_detail(self, detail: q.RunDetail | None) -> None:
        if detail is None:
            self.missing = self.run.get("id", "")
            self.run, self.hosts, self.tasks, self.cells = {}, [], [], []
            self.host_stats, self.variables = [], []
            return
        self.missing = ""
        self.run = {**_run_cells(detail.run), "ansible": detail.ansible_version}
        self.hosts = detail.hosts
        self.tasks = [
            {
                "id": t.id,
                "name": t.name,
                "play": t.play,
                "action": t.action,
                "path": t.path,
                "handler": "handler" if t.handler else "",
                "status": t.status,
                "tone": tone(t.status),
                "duration": duration(t.duration_s) if t.duration_s is not None else "…",
                "seconds": "" if t.duration_s is None else f"{t.duration_s:.3f}",
            }
            for t in detail.tasks
        ]
        self.cells = [[_cell(c) for c in t.cells] for t in detail.tasks]
        self.host_stats = [
            {
                "host": s.host,
                "ok": str(s.ok),
                "changed": str(s.changed),
                "failed": str(s.failed),
                "skipped": str(s.skipped),
                "unreachable": str(s.unreachable),
                "groups": ", ".join(g for g in s.groups if g != "all"),
            }
            for s in detail.host_stats
        ]
        shown = {**{f"-e {k}": v for k, v in detail.extra_vars.items()}, **detail.arguments}
        self.variables = [
            {"name": k, "value": v if isinstance(v, str) else str(v)}
            for k, v in shown.items()
            if v not in (None, [], "")
        ]

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self._params()))
        except ValidationError:
            log.info("automation.bad_filter")
            self.status_filter, self.page = "", 1
        except SQLAlchemyError as exc:
            log.error("automation.load_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; runs cannot be shown right now."

    @rx.event
    @protected("read")
    async def load(self) -> None:
        """``?run=<id>`` (a timeline link) opens that run."""
        wanted = str(self.router.url.query_parameters.get("run", ""))[:36]
        if wanted:
            self.run = {"id": wanted}
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_status(self, value: str) -> None:
        self.status_filter = value if value in STATUSES[1:] else ""
        self.page = 1
        await self._reload()

    @rx.event
    @protected("read")
    async def search_for(self, value: str) -> None:
        self.search, self.page = str(value)[:200], 1
        await self._reload()

    @rx.event
    @protected("read")
    async def go_to_page(self, delta: int) -> None:
        step = delta if isinstance(delta, int) and abs(delta) <= 1 else 0  # a forged event
        self.page = max(1, min(self.pages, self.page + step))
        await self._reload()

    @rx.event
    @protected("read")
    async def open_run(self, run_id: str) -> None:
        self.run = {"id": str(run_id)[:36]}
        await self._reload()

    @rx.event
    def close_run(self) -> None:
        self.run = {}
        self._apply_detail(None)

    @rx.var
    def duration_figure(self) -> dict[str, Any]:
        """Recent runs' durations over time, colored by status."""
        return _duration_figure(frozen(self.durations))

    @rx.var
    def task_figure(self) -> dict[str, Any]:
        """The open run's tasks by duration (one bar each, in the order shown)."""
        return _task_figure(frozen(self.tasks))


@lru_cache(maxsize=64)
def _duration_figure(durations: Rows) -> dict[str, Any]:
    """Recent runs' durations over time, colored by status (one figure per process and rows)."""
    rows = thawed(durations)
    figure = go.Figure()
    for status in ("ok", "failed"):
        points = [d for d in rows if d["status"] == status and d["seconds"]]
        figure.add_trace(
            go.Scatter(
                x=[p["start_iso"] for p in points],
                y=[float(p["seconds"]) for p in points],
                mode="markers",
                name=status,
                marker={"color": COLORS[status], "size": 9},
                hovertext=[f"{p['name']}: {p['duration']}" for p in points],
                hoverinfo="text",
            )
        )
    return plotted(
        styled(
            figure,
            height=220,
            margin={"l": 50, "r": 10, "t": 10, "b": 40},
            xaxis={"type": "date"},
            yaxis={"title": "seconds", "rangemode": "tozero"},
            legend={"orientation": "h"},
        )
    )


@lru_cache(maxsize=64)
def _task_figure(tasks: Rows) -> dict[str, Any]:
    """The open run's tasks by duration (one figure per process and rows)."""
    bars = [t for t in thawed(tasks) if t["seconds"]]
    figure = go.Figure(
        go.Bar(
            y=[f"{i + 1}. {t['name']}" for i, t in enumerate(bars)],
            x=[float(t["seconds"]) for t in bars],
            orientation="h",
            marker={"color": [COLORS.get(t["status"], "#8b8d98") for t in bars]},
            hovertext=[f"{t['name']}: {t['duration']} ({t['status']})" for t in bars],
            hoverinfo="text",
        )
    )
    return plotted(
        styled(
            figure,
            height=max(160, 26 * len(bars) + 60),
            margin={"l": 10, "r": 10, "t": 10, "b": 30},
            xaxis={"title": "seconds", "rangemode": "tozero"},
            yaxis={"autorange": "reversed", "automargin": True},
        )
    )


def _hosts(search: str) -> list[dict[str, str]]:
    with db.session_scope() as session:
        return [
            {
                "name": h.name,
                "status": h.last_status,
                "tone": tone(h.last_status),
                "seen": when(h.last_seen_at),
                "ago": ago(h.last_seen_at),
                "run": h.last_run_id,
                "counts": f"ok {h.ok} · changed {h.changed} · failed {h.failed} · skipped "
                f"{h.skipped} · unreachable {h.unreachable}",
                "groups": ", ".join(g for g in h.groups if g != "all"),
            }
            for h in q.list_hosts(session, search)
        ]


@live_view("automation")
class AutomationHostsState(rx.State):
    search: str = ""
    hosts: list[dict[str, str]] = []
    loaded: bool = False
    error: str = ""

    def _live_params(self) -> str | None:
        return self.search if self.loaded else None

    @staticmethod
    def _fetch(search: str) -> list[dict[str, str]]:
        return _hosts(search)

    def _apply(self, hosts: list[dict[str, str]]) -> None:
        self.hosts, self.loaded, self.error = hosts, True, ""

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_hosts, self.search))
        except SQLAlchemyError as exc:
            log.error("automation.hosts_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; hosts cannot be shown right now."

    @rx.event
    @protected("read")
    async def load(self) -> None:
        await self._reload()

    @rx.event
    @protected("read")
    async def search_for(self, value: str) -> None:
        self.search = str(value)[:200]
        await self._reload()
