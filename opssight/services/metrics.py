"""Metrics: PromQL queries against the configured Prometheus sources, each person's query
history, saved dashboard panels, golden-signal panels, and each source's health.

Pages and state never reach Prometheus themselves: every query goes through ``run_query``. A
source that cannot be reached is recorded on its ``prometheus:<source>`` connector with the
moment it went down. With demo data on and no source configured, the recorded demo source
(``demo.prometheus``) answers through the same code.
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func
from sqlmodel import Session, select

from opssight.config import PrometheusSource, get_settings
from opssight.demo import prometheus as demo_prometheus
from opssight.events import Event, get_bus
from opssight.integrations.prometheus import (
    Client,
    PrometheusClient,
    PrometheusError,
    QueryError,
    QueryResult,
    SourceDown,
    timed,
)
from opssight.models import ConnectorStatus, MetricPanel, MetricQuery, User
from opssight.models.base import utcnow
from opssight.services import audit, source_config
from opssight.services.connector_checks import prometheus_check, prometheus_down
from opssight.services.connectors import record_check

TOPIC = "metrics"
RANGES: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800}
CHART_TYPES = ("line", "area")
TARGET_POINTS = 240  # the default step draws about this many points per series
MAX_POINTS = 11_000  # Prometheus refuses more points per series
HISTORY_LIMIT = 20
DOWN_SINCE = "Down since"


# ---------- sources ----------


def connector_name(source: str) -> str:
    return f"prometheus:{source}"


def _configured() -> dict[str, PrometheusSource]:
    """The environment's sources and those saved in Settings → Connections."""
    return {s.name: s for s in source_config.current().prometheus}


def source_names() -> list[str]:
    """The sources offered: the configured ones, else the demo source when demo data is on."""
    names = list(_configured())
    if not names and source_config.current().demo:
        names.append(demo_prometheus.NAME)
    return names


def is_demo(source: str) -> bool:
    return source == demo_prometheus.NAME and source not in _configured()


QUERY_PERMISSION = "metrics:view"
QUERY_REFUSED = (
    "Running PromQL needs the metrics:view permission (roles viewer, developer and admin); "
    "the saved panels stay visible."
)


def may_query(permissions: frozenset[str], source: str, *, guest: bool) -> bool:
    """Whether a caller may run ad-hoc PromQL on ``source``: with ``metrics:view``; a demo
    visitor (not signed in) on the demo source only, which answers recorded payloads."""
    return QUERY_PERMISSION in permissions or (guest and is_demo(source))


def client_for(source: str) -> Client:
    """A client for one offered source; ``PrometheusError`` for a name that is not offered."""
    configured = _configured()
    if source in configured:
        timeout = get_settings().prometheus_timeout_seconds
        return PrometheusClient(configured[source], timeout=timeout)
    if source == demo_prometheus.NAME and source in source_names():
        return demo_prometheus.RecordedPrometheus()
    raise PrometheusError(source, f"no Prometheus source named {source!r} is configured")


# ---------- queries ----------


class QueryRequest(BaseModel):
    """One explorer query: instant (now) or over a preset or custom range with a step."""

    source: str = Field(min_length=1, max_length=100)
    promql: str = Field(min_length=1, max_length=4000)
    mode: Literal["instant", "range"] = "range"
    preset: str = "1h"  # a RANGES key, or "custom" with start and end
    start: datetime | None = None
    end: datetime | None = None
    step_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_window(self) -> QueryRequest:
        if self.mode == "range":
            start, end, step = self.window()
            if (end - start).total_seconds() / step > MAX_POINTS:
                raise ValueError(f"the step is too small: over {MAX_POINTS:,} points per series")
        return self

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime, float]:
        """(start, end, step seconds) of a range query."""
        if self.preset == "custom":
            if self.start is None or self.end is None:
                raise ValueError("a custom range needs a start and an end")
            start, end = self.start, self.end
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError("the range's start and end need a time zone")
            if start >= end:
                raise ValueError("the range must start before it ends")
        elif self.preset in RANGES:
            end = now or datetime.now(UTC)
            start = end - timedelta(seconds=RANGES[self.preset])
        else:
            raise ValueError(f"unknown range {self.preset!r}")
        default = max(1.0, round((end - start).total_seconds() / TARGET_POINTS))
        return start, end, self.step_seconds or default


class QueryOutcome(BaseModel):
    """A result, or the error to show: ``query`` (Prometheus's own message), ``down`` (the
    source could not be reached, since ``down_since``) or ``source`` (anything else)."""

    source: str
    demo: bool = False
    result: QueryResult | None = None
    step_seconds: float | None = None
    error: str = ""
    error_kind: Literal["", "query", "down", "source"] = ""
    error_type: str = ""
    down_since: datetime | None = None


def _execute(client: Client, request: QueryRequest) -> tuple[QueryResult, float | None]:
    if request.mode == "instant":
        return client.query(request.promql), None
    start, end, step = request.window()
    return client.query_range(request.promql, start, end, step), step


def run_query(
    session: Session, request: QueryRequest, *, user: User | None, remember: bool = True
) -> QueryOutcome:
    """Run one query; remembered in the person's history (guests have none).

    A source found down is recorded on its connector; one that answers again is re-checked.
    """
    demo = is_demo(request.source)
    if remember and user is not None and user.id is not None:
        session.add(
            MetricQuery(
                user_id=user.id, source=request.source, promql=request.promql, mode=request.mode
            )
        )
        session.commit()
    outcome = QueryOutcome(source=request.source, demo=demo)
    try:
        with closing(client_for(request.source)) as client:
            outcome.result, outcome.step_seconds = _execute(client, request)
    except QueryError as exc:
        outcome.error, outcome.error_kind, outcome.error_type = exc.message, "query", exc.error_type
    except SourceDown as exc:
        row = _record_down(session, request.source, exc.message)
        outcome.error, outcome.error_kind = exc.message, "down"
        outcome.down_since = _down_since(row)
    except PrometheusError as exc:
        outcome.error, outcome.error_kind = exc.message, "source"
    if outcome.error_kind != "down" and not demo:
        row = session.get(ConnectorStatus, connector_name(request.source))
        if row is not None and row.state == "down":
            check_source(session, request.source)
    return outcome


def history(session: Session, user_id: int, *, limit: int = HISTORY_LIMIT) -> list[MetricQuery]:
    """The person's distinct recent queries, newest first (one row per source and PromQL)."""
    latest = (
        select(MetricQuery.source, MetricQuery.promql, func.max(MetricQuery.at).label("last"))
        .where(MetricQuery.user_id == user_id)
        .group_by(MetricQuery.source, MetricQuery.promql)
        .order_by(func.max(MetricQuery.at).desc())
        .limit(limit)
    )
    return [
        MetricQuery(user_id=user_id, source=source, promql=promql, mode="", at=at)
        for source, promql, at in session.exec(latest)
    ]


# ---------- source health ----------


def _down_since(row: ConnectorStatus) -> datetime | None:
    text = (row.facts or {}).get(DOWN_SINCE)
    return datetime.fromisoformat(text) if text else None


def _record_down(session: Session, source: str, error: str) -> ConnectorStatus:
    """The source's connector goes (or stays) down; the moment it first went down is kept."""
    name = connector_name(source)
    row = session.get(ConnectorStatus, name)
    since = _down_since(row) if row is not None and row.state == "down" else None
    return record_check(session, prometheus_down(name, error, since or utcnow()))


def check_source(session: Session, source: str) -> ConnectorStatus:
    """Ask a configured source for its build info and record the answer on its connector."""
    try:
        with closing(client_for(source)) as client:
            info, latency = timed(client.build_info)
    except PrometheusError as exc:
        return _record_down(session, source, exc.message)
    return record_check(session, prometheus_check(connector_name(source), info, latency_ms=latency))


def poll(session: Session) -> int:
    """One pass of the metrics job: check every configured source, then tell open dashboards
    to refresh their panels; returns how many sources answered."""
    checked = [check_source(session, name) for name in _configured()]
    get_bus().publish(Event(topic=f"{TOPIC}.refresh", keys={}))
    return sum(row.state == "ok" for row in checked)


def source_states(session: Session) -> list[ConnectorStatus]:
    """Connector rows of the configured sources (the demo source has the ``prometheus`` one)."""
    names = [connector_name(n) for n in _configured()]
    if not names:
        return []
    rows = session.exec(select(ConnectorStatus).where(ConnectorStatus.name.in_(names)))
    return list(rows)


# ---------- panels ----------


class PanelCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    promql: str = Field(min_length=1, max_length=4000)
    source: str = Field(min_length=1, max_length=100)
    range_preset: Literal["15m", "1h", "6h", "24h", "7d"] = "1h"
    chart_type: Literal["line", "area"] = "line"


def _snapshot(panel: MetricPanel) -> dict[str, Any]:
    return {
        "title": panel.title,
        "promql": panel.promql,
        "source": panel.source,
        "range_preset": panel.range_preset,
        "chart_type": panel.chart_type,
        "position": panel.position,
    }


def _announce(panel_id: int | None) -> None:
    get_bus().publish(Event(topic=TOPIC, keys={"panel": str(panel_id)}))


def list_panels(session: Session) -> list[MetricPanel]:
    return list(session.exec(select(MetricPanel).order_by(MetricPanel.position, MetricPanel.id)))


def create_panel(session: Session, data: PanelCreate, *, actor: User) -> MetricPanel:
    """Saved at the end of the dashboard; audited."""
    last = session.exec(select(func.max(MetricPanel.position))).one()
    panel = MetricPanel(
        **data.model_dump(), position=0 if last is None else last + 1, owner_id=actor.id
    )
    session.add(panel)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="metrics.panel.create",
        target_type="metric_panel",
        target_id=str(panel.id),
        before=None,
        after=_snapshot(panel),
    )
    session.commit()
    session.refresh(panel)
    _announce(panel.id)
    return panel


def move_panel(session: Session, panel_id: int, offset: int, *, actor: User) -> bool:
    """Swap the panel with its neighbour ``offset`` places away (-1 up, 1 down); audited.
    False when it is already first or last, or gone."""
    panels = list_panels(session)
    index = next((i for i, p in enumerate(panels) if p.id == panel_id), None)
    if index is None or not 0 <= index + offset < len(panels):
        return False
    for position, panel in enumerate(panels):  # positions become 0..n-1 on the way
        panel.position = position
    panel, other = panels[index], panels[index + offset]
    before = panel.position
    panel.position, other.position = other.position, panel.position
    panel.updated_at = other.updated_at = utcnow()
    session.add_all(panels)
    audit.record(
        session,
        actor=actor,
        action="metrics.panel.move",
        target_type="metric_panel",
        target_id=str(panel.id),
        before={"position": before},
        after={"position": panel.position},
    )
    session.commit()
    _announce(panel.id)
    return True


def update_panel(
    session: Session, panel_id: int, data: PanelCreate, *, actor: User
) -> MetricPanel | None:
    """Change a panel's title, query, source, range or chart kind (its place stays); audited.
    None when it is gone."""
    panel = session.get(MetricPanel, panel_id)
    if panel is None:
        return None
    before = _snapshot(panel)
    for name, value in data.model_dump().items():
        setattr(panel, name, value)
    if _snapshot(panel) == before:
        return panel
    panel.updated_at = utcnow()
    session.add(panel)
    audit.record(
        session,
        actor=actor,
        action="metrics.panel.update",
        target_type="metric_panel",
        target_id=str(panel_id),
        before=before,
        after=_snapshot(panel),
    )
    session.commit()
    session.refresh(panel)
    _announce(panel_id)
    return panel


def delete_panel(session: Session, panel_id: int, *, actor: User) -> bool:
    panel = session.get(MetricPanel, panel_id)
    if panel is None:
        return False
    audit.record(
        session,
        actor=actor,
        action="metrics.panel.delete",
        target_type="metric_panel",
        target_id=str(panel_id),
        before=_snapshot(panel),
        after=None,
    )
    session.delete(panel)
    session.commit()
    _announce(panel_id)
    return True


def panel_data(panel: MetricPanel) -> QueryOutcome:
    """The panel's range query (not remembered in anyone's history, no database needed)."""
    request = QueryRequest(
        source=panel.source, promql=panel.promql, mode="range", preset=panel.range_preset
    )
    demo = is_demo(panel.source)
    try:
        with closing(client_for(panel.source)) as client:
            result, step = _execute(client, request)
    except QueryError as exc:
        return QueryOutcome(source=panel.source, demo=demo, error=exc.message, error_kind="query")
    except SourceDown as exc:
        return QueryOutcome(source=panel.source, demo=demo, error=exc.message, error_kind="down")
    except PrometheusError as exc:
        return QueryOutcome(source=panel.source, demo=demo, error=exc.message, error_kind="source")
    return QueryOutcome(source=panel.source, demo=demo, result=result, step_seconds=step)


# ---------- golden signals ----------


class GoldenPanel(BaseModel):
    signal: str
    title: str
    promql: str


# signal -> candidates, first whose metric exists wins: (metric, title, PromQL)
GOLDEN_SIGNALS: dict[str, list[tuple[str, str, str]]] = {
    "latency": [
        (
            "http_request_duration_seconds_bucket",
            "Latency p95 (s)",
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
    ],
    "traffic": [
        ("http_requests_total", "Traffic (requests/s)", "sum(rate(http_requests_total[5m]))"),
    ],
    "errors": [
        (
            "http_requests_total",
            "Errors (5xx ratio)",
            'sum(rate(http_requests_total{LABEL=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
        ),
    ],
    "saturation": [
        (
            "process_cpu_seconds_total",
            "Saturation (CPU cores)",
            "rate(process_cpu_seconds_total[5m])",
        ),
        (
            "node_cpu_seconds_total",
            "Saturation (CPU busy)",
            '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))',
        ),
    ],
}
STATUS_LABELS = ("code", "status")


def golden_panels(source: str) -> list[GoldenPanel]:
    """The golden-signal panels this source's metric names allow (its ``__name__`` values);
    the error ratio needs a ``code`` or ``status`` label. ``PrometheusError`` when unreachable."""
    with closing(client_for(source)) as client:
        names = set(client.label_values("__name__"))
        status_label = next((la for la in STATUS_LABELS if client.label_values(la)), None)
    found = []
    for signal, candidates in GOLDEN_SIGNALS.items():
        for metric, title, promql in candidates:
            if metric not in names or ("LABEL" in promql and status_label is None):
                continue
            found.append(
                GoldenPanel(
                    signal=signal, title=title, promql=promql.replace("LABEL", status_label or "")
                )
            )
            break
    return found
