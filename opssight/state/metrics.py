"""Metrics explorer and dashboard: PromQL runs through ``services.metrics``; saved panels are
re-read live from the ``metrics`` topic (changes, and the metrics job's periodic refresh)."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
import reflex as rx
import structlog
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.integrations.prometheus import PrometheusError, Series
from opssight.services import metrics
from opssight.state.charts import plotted, styled
from opssight.state.formatting import when
from opssight.state.inputs import single
from opssight.state.live import live_view
from opssight.state.session import caller, protected, signed_in_user

log = structlog.get_logger(__name__)

MODES = ("instant", "range")
PRESETS = (*metrics.RANGES, "custom")
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends (read as UTC)


def _legend(labels: dict[str, str], varying: set[str]) -> str:
    """``name{label="value", ...}`` with only the labels that tell the series apart."""
    shown = [k for k in sorted(labels) if k != "__name__" and (k in varying or not varying)]
    inner = ", ".join(f'{k}="{labels[k]}"' for k in shown)
    return f"{labels.get('__name__', '')}{{{inner}}}" if inner else labels.get("__name__", "")


def _varying(series: list[Series]) -> set[str]:
    keys = {k for s in series for k in s.labels}
    return {k for k in keys if len({s.labels.get(k) for s in series}) > 1}


def _figure(series: list[Series], chart_type: str, *, height: int = 360) -> dict[str, Any]:
    """One trace per label set, area stacked or not; a readable legend under the plot (plotly
    JSON, see ``charts.plotted``)."""
    varying = _varying(series)
    figure = go.Figure()
    for s in series:
        figure.add_trace(
            go.Scatter(
                x=[datetime.fromtimestamp(t, UTC) for t, _ in s.points],
                y=[None if math.isnan(v) else v for _, v in s.points],
                name=_legend(s.labels, varying) or "value",
                mode="lines" if len(s.points) > 1 else "markers",
                fill="tozeroy" if chart_type == "area" else None,
            )
        )
    return plotted(
        styled(
            figure,
            height=height,
            margin={"l": 50, "r": 10, "t": 10, "b": 10},
            showlegend=True,
            legend={"orientation": "h", "yanchor": "top", "y": -0.15, "font": {"size": 11}},
            hovermode="x unified",
        )
    )


def _rows(series: list[Series]) -> list[dict[str, str]]:
    """The raw result: every label set with its latest value (and how many points)."""
    return [
        {
            "labels": _legend(s.labels, set(s.labels)) or "{}",
            "value": f"{s.points[-1][1]:g}" if s.points else s.labels.get("value", ""),
            "at": when(datetime.fromtimestamp(s.points[-1][0], UTC)) if s.points else "",
            "points": str(len(s.points)),
        }
        for s in series
    ]


def _parse_local(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, LOCAL_INPUT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _panel_cells(panel_id: int, fields: dict, outcome: metrics.QueryOutcome) -> dict[str, str]:
    return {
        "id": str(panel_id),
        **{k: str(v) for k, v in fields.items()},
        "error": outcome.error,
        "demo": "demo" if outcome.demo else "",
    }


def _fetch_panels(_: object) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Every saved panel with its fresh data (queries run one after another)."""
    with db.session_scope() as session:
        panels = metrics.list_panels(session)
        session.expunge_all()
    shown = []
    for panel in panels:
        outcome = metrics.panel_data(panel)
        fields = {
            "title": panel.title,
            "promql": panel.promql,
            "source": panel.source,
            "range": panel.range_preset,
            "chart": panel.chart_type,
        }
        series = outcome.result.series if outcome.result else []
        shown.append(
            (
                _panel_cells(panel.id or 0, fields, outcome),
                _figure(series, panel.chart_type, height=260),
            )
        )
    return shown


@live_view("metrics")
class MetricsState(rx.State):
    sources: list[str] = []
    source: str = ""
    promql: str = ""
    mode: str = "range"
    preset: str = "1h"
    start: str = ""
    end: str = ""
    step: str = ""
    chart_type: str = "line"
    table_view: bool = False
    running: bool = False
    demo: bool = False
    ran: bool = False
    query_error: str = ""
    error_type: str = ""
    down: str = ""
    note: str = ""
    result_type: str = ""
    step_used: str = ""
    rows: list[dict[str, str]] = []
    figure: dict[str, Any] = plotted(go.Figure())
    history: list[dict[str, str]] = []
    golden: list[dict[str, str]] = []
    panels: list[dict[str, str]] = []
    panel_figures: list[dict[str, Any]] = []
    title: str = ""
    can_write: bool = False
    can_query: bool = False
    loaded: bool = False
    # the panel form (editing a saved panel)
    panel_form_open: bool = False
    panel_form_id: str = ""
    panel_form_title: str = ""
    panel_form_promql: str = ""
    panel_form_source: str = ""
    panel_form_range: str = "1h"
    panel_form_chart: str = "line"
    panel_form_error: str = ""

    # ---------- live panels ----------

    def _live_params(self) -> bool | None:
        return True if self.loaded else None

    @staticmethod
    def _fetch(params: object) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return _fetch_panels(params)

    def _apply(self, data: list[tuple[dict[str, str], dict[str, Any]]]) -> None:
        self.panels = [cells for cells, _ in data]
        self.panel_figures = [figure for _, figure in data]

    # ---------- loading ----------

    def _read_history(self) -> None:
        user = caller().user
        if user is None or user.id is None:
            self.history = []
            return
        with db.session_scope() as session:
            rows = metrics.history(session, user.id)
        self.history = [{"source": r.source, "promql": r.promql, "at": when(r.at)} for r in rows]

    @rx.event
    @protected("read")
    async def load(self) -> None:
        self.sources = metrics.source_names()
        self.can_write = "write" in caller().permissions
        if self.source not in self.sources:
            self.source = self.sources[0] if self.sources else ""
        self.demo = metrics.is_demo(self.source) if self.source else False
        self.can_query = self._may_query()
        if self.demo and not self.promql:
            self.promql = "up"
        try:
            await asyncio.to_thread(self._read_history)
            self._apply(await asyncio.to_thread(_fetch_panels, None))
        except SQLAlchemyError as exc:
            log.error("metrics.load_failed", error=str(exc))
            self.note = "The database is unreachable; history and panels cannot be shown."
        self.loaded = True

    # ---------- editor controls ----------

    @rx.event
    @protected("read")
    async def edit_promql(self, value: str) -> None:
        self.promql = str(value)[:4000]

    @rx.event
    @protected("read")
    async def choose_source(self, value: str) -> None:
        if value in self.sources:
            self.source, self.demo = value, metrics.is_demo(value)
            self.golden = []
            self.can_query = self._may_query()

    @rx.event
    @protected("read")
    async def choose_mode(self, value: str | list[str]) -> None:
        mode = single(value)
        self.mode = mode if mode in MODES else "range"

    @rx.event
    @protected("read")
    async def choose_preset(self, value: str | list[str]) -> None:
        preset = single(value)
        self.preset = preset if preset in PRESETS else "1h"

    @rx.event
    @protected("read")
    async def set_range(self, field: str, value: str) -> None:
        """The custom range's ``start``/``end`` (UTC) and the step in seconds."""
        if field in ("start", "end", "step"):
            setattr(self, field, str(value)[:40])

    @rx.event
    @protected("read")
    async def choose_chart(self, value: str | list[str]) -> None:
        chart = single(value)
        self.chart_type = chart if chart in metrics.CHART_TYPES else "line"

    @rx.event
    @protected("read")
    async def show_table(self, value: bool) -> None:
        self.table_view = bool(value)

    @rx.event
    @protected("read")
    async def pick_history(self, source: str, promql: str) -> None:
        if source in self.sources:
            self.source, self.demo = source, metrics.is_demo(source)
        self.promql = str(promql)[:4000]

    # ---------- running ----------

    def _may_query(self) -> bool:
        who = caller()
        return metrics.may_query(who.permissions, self.source, guest=who.guest)

    def _refused(self) -> bool:
        """Refuse ad-hoc PromQL to a caller without ``metrics:view`` (checked on every run)."""
        if self._may_query():
            return False
        self.query_error = metrics.QUERY_REFUSED
        log.warning(
            "metrics.query_refused", source=self.source, login=getattr(caller().user, "login", None)
        )
        return True

    def _request(self) -> metrics.QueryRequest:
        step = float(self.step) if self.step.strip() else None
        return metrics.QueryRequest(
            source=self.source,
            promql=self.promql,
            mode=self.mode,  # type: ignore[arg-type] (checked by choose_mode and the model)
            preset=self.preset,
            start=_parse_local(self.start),
            end=_parse_local(self.end),
            step_seconds=step,
        )

    def _show(self, outcome: metrics.QueryOutcome) -> None:
        self.ran = True
        self.query_error = outcome.error if outcome.error_kind in ("query", "source") else ""
        self.error_type = outcome.error_type
        self.down = ""
        if outcome.error_kind == "down":
            since = when(outcome.down_since)
            self.down = f"Prometheus source {outcome.source} unreachable since {since} UTC: "
            self.down += outcome.error
        series = outcome.result.series if outcome.result else []
        self.result_type = outcome.result.result_type if outcome.result else ""
        self.step_used = f"{outcome.step_seconds:g}s" if outcome.step_seconds else ""
        self.rows = _rows(series)
        self.figure = _figure(series, self.chart_type)

    def _run(self, request: metrics.QueryRequest) -> metrics.QueryOutcome:
        with db.session_scope() as session:
            outcome = metrics.run_query(session, request, user=caller().user)
        self._read_history()
        return outcome

    @rx.event
    @protected("read")
    async def run(self) -> None:
        """Run the editor's query (``metrics:view``; a demo visitor on the demo source)."""
        self.note = ""
        if self._refused():
            return
        if not self.promql.strip() or not self.source:
            self.query_error = "Write a PromQL query and pick a source."
            return
        try:
            request = self._request()
        except (ValidationError, ValueError) as exc:
            self.query_error = _invalid(exc)
            return
        self.running = True
        yield
        try:
            self._show(await asyncio.to_thread(self._run, request))
        except SQLAlchemyError as exc:
            log.error("metrics.query_failed", error=str(exc))
            self.note = "The database is unreachable; the query was not run."
        finally:
            self.running = False

    @rx.event
    @protected("read")
    async def find_golden(self) -> None:
        """Offer the golden-signal panels the source's metric names allow."""
        if self._refused():
            return
        try:
            found = await asyncio.to_thread(metrics.golden_panels, self.source)
        except PrometheusError as exc:
            self.note = exc.message
            return
        self.golden = [p.model_dump() for p in found]
        if not found:
            self.note = f"No golden-signal metric names found on {self.source}."

    # ---------- panels (write) ----------

    @rx.event
    @protected("read")
    async def edit_title(self, value: str) -> None:
        self.title = str(value)[:200]

    def _save(self, data: metrics.PanelCreate) -> None:
        with db.session_scope() as session:
            metrics.create_panel(session, data, actor=signed_in_user())

    @rx.event
    @protected("write")
    async def save_panel(self) -> rx.event.EventSpec | None:
        preset = self.preset if self.preset in metrics.RANGES else "1h"
        try:
            data = metrics.PanelCreate(
                title=self.title.strip() or self.promql[:200],
                promql=self.promql,
                source=self.source,
                range_preset=preset,  # type: ignore[arg-type]
                chart_type=self.chart_type,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            return rx.toast.error(_invalid(exc))
        await asyncio.to_thread(self._save, data)
        self.title = ""
        return rx.toast.success(f"Saved panel “{data.title}”.")

    @rx.event
    @protected("write")
    async def add_golden(self, signal: str) -> rx.event.EventSpec | None:
        found = next((g for g in self.golden if g["signal"] == signal), None)
        if found is None:
            return None
        data = metrics.PanelCreate(title=found["title"], promql=found["promql"], source=self.source)
        await asyncio.to_thread(self._save, data)
        return rx.toast.success(f"Added “{data.title}”.")

    @rx.event
    @protected("write")
    async def move_panel(self, panel_id: str, offset: int) -> None:
        def move() -> None:
            with db.session_scope() as session:
                metrics.move_panel(
                    session, int(panel_id), 1 if int(offset) > 0 else -1, actor=signed_in_user()
                )

        await asyncio.to_thread(move)

    @rx.event
    @protected("write")
    async def edit_panel(self, panel_id: str) -> rx.event.EventSpec | None:
        cells = next((p for p in self.panels if p["id"] == str(panel_id)), None)
        if cells is None:
            return rx.toast.error("That panel no longer exists.")
        self.panel_form_id, self.panel_form_title = cells["id"], cells["title"]
        self.panel_form_promql, self.panel_form_source = cells["promql"], cells["source"]
        self.panel_form_range, self.panel_form_chart = cells["range"], cells["chart"]
        self.panel_form_error, self.panel_form_open = "", True
        return None

    @rx.event
    def close_panel_form(self) -> None:
        self.panel_form_open, self.panel_form_error = False, ""

    @rx.event
    def set_panel_field(self, field: str, value: str | list[str]) -> None:
        """Every input of the panel form (a forged field name changes nothing)."""
        if field in ("title", "promql", "source", "range", "chart"):
            setattr(self, f"panel_form_{field}", single(value)[:4000])

    @rx.event
    @protected("write")
    async def save_panel_edit(self) -> rx.event.EventSpec | None:
        if not self.panel_form_id.isdigit():
            return rx.toast.error("Pick a panel to edit.")
        if self.panel_form_source not in self.sources:
            self.panel_form_error = f"Source: {self.panel_form_source!r} is not configured."
            return None
        try:
            data = metrics.PanelCreate(
                title=self.panel_form_title.strip(),
                promql=self.panel_form_promql.strip(),
                source=self.panel_form_source,
                range_preset=self.panel_form_range,  # type: ignore[arg-type]
                chart_type=self.panel_form_chart,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            self.panel_form_error = "; ".join(
                f"{e['loc'][0] if e['loc'] else 'panel'}: {e['msg']}" for e in exc.errors()
            )
            return None
        panel_id, actor = int(self.panel_form_id), signed_in_user()

        def update() -> bool:
            with db.session_scope() as session:
                return metrics.update_panel(session, panel_id, data, actor=actor) is not None

        if not await asyncio.to_thread(update):
            self.panel_form_error = "That panel no longer exists."
            return None
        self.panel_form_open = False
        self._apply(await asyncio.to_thread(_fetch_panels, None))
        return rx.toast.success(f"Saved panel “{data.title}”.")

    @rx.event
    @protected("write")
    async def delete_panel(self, panel_id: str) -> None:
        def delete() -> None:
            with db.session_scope() as session:
                metrics.delete_panel(session, int(panel_id), actor=signed_in_user())

        await asyncio.to_thread(delete)


def _invalid(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)
