"""What the Alerts page and the Overview read: current alerts, transitions, rules, per-rule
figures (MTTA, MTTR, flapping) and firing counts by severity."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from statistics import mean

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, String, cast, func, or_
from sqlmodel import Session, case, col, select

from opssight.models import Alert, AlertRule, AlertTransition
from opssight.services.alerting.states import State
from opssight.services.teams import team_namespaces

ORDER = [State.FIRING, State.PENDING, State.ERROR, State.NODATA, State.RESOLVED, State.NORMAL]
SOURCES = ("opssight", "prometheus", "alertmanager", "alertmanager-demo")
SEVERITIES = ("critical", "warning", "info")


class AlertFilter(BaseModel):
    state: State | None = None
    severity: str = Field(default="", max_length=20)
    source: str = Field(default="", max_length=20)
    search: str = Field(default="", max_length=200)
    team: str = Field(default="", max_length=200)
    """A team's slug: alerts labelled ``team=<slug>`` or with a ``namespace`` label the team owns."""


class TransitionRow(BaseModel):
    alert_id: int
    name: str
    source: str
    from_state: str | None
    to_state: str
    at: datetime
    value: float | None
    error: str | None
    actor: str | None


class RuleFigures(BaseModel):
    """One rule's episodes over a window (rules are named by source and alert name)."""

    source: str
    name: str
    firings: int = 0
    flaps: int = 0
    """Firings of an instance that had already fired in the window."""
    mtta: timedelta | None = None
    mttr: timedelta | None = None


def _label(name: str, value: str) -> str:
    """A label as it reads in the stored JSON (``json.dumps``'s separators, as SQLAlchemy's JSON
    type writes it on SQLite and PostgreSQL alike)."""
    return json.dumps({name: value})[1:-1]


def _of_team(session: Session, team: str) -> ColumnElement[bool]:
    labels = cast(Alert.labels, String)
    pairs = [_label("team", team)]
    pairs += [_label("namespace", ns) for _, ns in team_namespaces(session, team)]
    return or_(*(labels.contains(pair, autoescape=True) for pair in pairs))


def list_alerts(session: Session, f: AlertFilter, *, limit: int = 200) -> list[Alert]:
    """Alerts matching the filter: firing, then pending, error, no data, resolved; newest first
    within each. ``search`` matches the name, a label or an annotation (substring)."""
    conditions = []
    if f.state is not None:
        conditions.append(Alert.state == f.state)
    if f.severity:
        conditions.append(Alert.severity == f.severity)
    if f.source:
        conditions.append(Alert.source == f.source)
    if f.search:
        conditions.append(
            or_(
                col(Alert.name).contains(f.search, autoescape=True),
                cast(Alert.labels, String).contains(f.search, autoescape=True),
                cast(Alert.annotations, String).contains(f.search, autoescape=True),
            )
        )
    if f.team:
        conditions.append(_of_team(session, f.team))
    rank = case({state.value: i for i, state in enumerate(ORDER)}, value=Alert.state, else_=99)
    query = (
        select(Alert)
        .where(*conditions)
        .order_by(rank, col(Alert.updated_at).desc(), col(Alert.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def transitions(
    session: Session, *, alert_id: int | None = None, limit: int = 100
) -> list[TransitionRow]:
    """The newest state changes and acknowledgements (of one alert, or of all)."""
    query = select(AlertTransition, Alert.name, Alert.source).join(
        Alert, col(Alert.id) == AlertTransition.alert_id
    )
    if alert_id is not None:
        query = query.where(AlertTransition.alert_id == alert_id)
    query = query.order_by(col(AlertTransition.at).desc(), col(AlertTransition.id).desc())
    return [
        TransitionRow(
            alert_id=t.alert_id,
            name=name,
            source=source,
            from_state=t.from_state,
            to_state=t.to_state,
            at=t.at,
            value=t.value,
            error=t.error,
            actor=t.actor,
        )
        for t, name, source in session.exec(query.limit(limit))
    ]


def rule_figures(session: Session, *, since: datetime) -> list[RuleFigures]:
    """Per rule over ``[since, now)``: firings, flaps, mean time to acknowledge (firing to the
    first acknowledgement) and to resolve (firing to resolution), from the transitions."""
    query = (
        select(AlertTransition, Alert.source, Alert.name)
        .join(Alert, col(Alert.id) == AlertTransition.alert_id)
        .where(AlertTransition.at >= since)
        .order_by(AlertTransition.alert_id, AlertTransition.at, AlertTransition.id)
    )
    figures: dict[tuple[str, str], RuleFigures] = {}
    acks: dict[tuple[str, str], list[float]] = defaultdict(list)
    repairs: dict[tuple[str, str], list[float]] = defaultdict(list)
    fired: dict[int, datetime | None] = {}  # alert id → firing time of its open episode
    firings: dict[int, int] = defaultdict(int)
    acked: set[int] = set()
    for t, source, name in session.exec(query):
        key = (source, name)
        row = figures.setdefault(key, RuleFigures(source=source, name=name))
        if t.actor is not None:
            if fired.get(t.alert_id) and t.alert_id not in acked:
                acks[key].append((t.at - fired[t.alert_id]).total_seconds())
                acked.add(t.alert_id)
        elif t.to_state == State.FIRING and t.from_state != State.FIRING:
            if not fired.get(t.alert_id):
                fired[t.alert_id] = t.at
                acked.discard(t.alert_id)
                firings[t.alert_id] += 1
                row.firings += 1
                row.flaps += firings[t.alert_id] > 1
        elif t.to_state in (State.RESOLVED, State.NORMAL) and fired.get(t.alert_id):
            repairs[key].append((t.at - fired[t.alert_id]).total_seconds())
            fired[t.alert_id] = None
    for key, row in figures.items():
        row.mtta = timedelta(seconds=mean(acks[key])) if acks[key] else None
        row.mttr = timedelta(seconds=mean(repairs[key])) if repairs[key] else None
    return sorted(figures.values(), key=lambda r: (-r.firings, r.source, r.name))


def list_rules(session: Session) -> list[AlertRule]:
    """OpsSight's rules first, then each source's own, by name."""
    mine = case((AlertRule.source == "opssight", 0), else_=1)
    return list(session.exec(select(AlertRule).order_by(mine, AlertRule.name)))


def firing_by_severity(session: Session) -> dict[str, int]:
    """How many alerts fire now, per severity ("" for none)."""
    query = (
        select(Alert.severity, func.count())
        .where(Alert.state == State.FIRING)
        .group_by(Alert.severity)
    )
    return {severity: count for severity, count in session.exec(query)}
