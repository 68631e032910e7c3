"""One evaluation pass: OpsSight's rules against Prometheus, then Prometheus's own rules and alerts.

Each enabled OpsSight rule is one instant query on its source. Every series of the answer is
an instance whose condition holds (labels: the series', the rule's, ``alertname``); active
instances missing from a non-empty answer stop holding; an empty answer makes active instances
NoData (or stop holding, by the rule's ``no_data_state``); a failed query puts the active
instances, or the rule's own instance when none is active, in Error with the message. Each
rule's changes are committed together and announced after the commit.

Prometheus's own alerting rules are kept as read-only ``AlertRule`` rows (source "prometheus",
named ``<source>/<group>/<rule>``), its alerts as instances driven by the state Prometheus
reports (pending, firing; gone means resolved).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from pydantic import ValidationError
from sqlalchemy import or_
from sqlmodel import Session, col, select

from opssight.config import PrometheusSource, get_settings
from opssight.events import Event
from opssight.integrations import prometheus_alerting
from opssight.integrations.prometheus import Client, PrometheusError, QueryResult
from opssight.models import Alert, AlertRule
from opssight.models.base import utcnow
from opssight.schemas.alerting import PrometheusAlerts, PrometheusRules
from opssight.services import metrics, source_config
from opssight.services.alerting import history
from opssight.services.alerting.states import ACTIVE, Observation, Snapshot, State, step

log = structlog.get_logger(__name__)

OPSSIGHT, PROMETHEUS = "opssight", "prometheus"
MAX_SERIES = 1000  # instances one rule may have at once


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


Outcome = list[Sample] | str


def samples(result: QueryResult) -> list[Sample]:
    """The series of an instant query answer. Raises ValueError for a string answer."""
    if result.result_type == "string":
        raise ValueError("the expression returns a string, not a vector or a scalar")
    return [
        Sample({k: v for k, v in s.labels.items() if k != "__name__"}, s.points[-1][1])
        for s in result.series
        if s.points
    ]


def _instances(session: Session, rule: AlertRule) -> dict[str, Alert]:
    query = select(Alert).where(Alert.source == OPSSIGHT, Alert.rule_id == rule.id)
    return {alert.fingerprint: alert for alert in session.exec(query)}


def apply_rule(
    session: Session, rule: AlertRule, outcome: Outcome, *, now: datetime
) -> list[Event]:
    """Drive the rule's instances from one evaluation (``outcome``: its samples, or the error
    message); returns the events to publish after the caller commits."""
    own = {**rule.labels, "alertname": rule.name}
    stored = _instances(session, rule)
    active = [fp for fp, alert in stored.items() if alert.state in ACTIVE]
    seen: dict[str, tuple[Observation, dict[str, str]]] = {}
    if isinstance(outcome, str):
        targets = active or [history.fingerprint(str(rule.id), own)]
        error = Observation("error", error=outcome[:2000])
        seen = {fp: (error, stored[fp].labels if fp in stored else own) for fp in targets}
    elif not outcome:
        kind = "nodata" if rule.no_data_state == State.NODATA else "absent"
        seen = {fp: (Observation(kind), stored[fp].labels) for fp in active}
    else:
        for sample in outcome:
            labels = {**sample.labels, **own}
            seen[history.fingerprint(str(rule.id), labels)] = (
                Observation("value", sample.value),
                labels,
            )
        for fp in active:
            seen.setdefault(fp, (Observation("absent"), stored[fp].labels))
    events: list[Event] = []
    for fp, (observation, labels) in seen.items():
        alert = stored.get(fp) or history.instance(
            session,
            source=OPSSIGHT,
            fingerprint=fp,
            rule_id=rule.id,
            datasource=rule.datasource,
            name=rule.name,
            labels=labels,
            updated_at=now,
        )
        new = step(history.snapshot(alert), observation, for_seconds=rule.for_seconds, now=now)
        alert.name, alert.severity, alert.labels = rule.name, rule.severity, labels
        alert.annotations = history.render(rule.annotations, labels, new.value)
        events += history.apply(session, alert, new, at=now)
    failed = isinstance(outcome, str)
    rule.health = "err" if failed else "ok"
    rule.last_error = outcome[:2000] if failed else None
    rule.last_evaluated_at = now
    session.add(rule)
    return events


def evaluate(clients: dict[str, Client], source: str, rule: AlertRule, now: datetime) -> Outcome:
    """The rule's samples, or why there are none (Prometheus's own error text). ``clients``
    keeps this pass's client per source."""
    try:
        if source not in clients:
            clients[source] = metrics.client_for(source)
        found = samples(clients[source].query(rule.expr, now))
    except PrometheusError as exc:
        return exc.message
    except ValueError as exc:
        return str(exc)
    if len(found) > MAX_SERIES:
        return f"{len(found)} series: more than the {MAX_SERIES} one rule may have"
    return found


def run_pass(session: Session, *, now: Callable[[], datetime] = utcnow) -> list[Event]:
    """Evaluate every enabled OpsSight rule, then read every source's own rules and alerts.
    Commits per rule and per source; publishes as it goes; returns every event published."""
    settings = get_settings()
    offered = metrics.source_names()
    clients: dict[str, Client] = {}
    published: list[Event] = []
    try:
        query = select(AlertRule).where(AlertRule.source == OPSSIGHT, col(AlertRule.enabled))
        for rule in session.exec(query.order_by(AlertRule.id)).all():
            source = rule.datasource or (offered[0] if offered else "")
            outcome = evaluate(clients, source, rule, now())
            events = apply_rule(session, rule, outcome, now=now())
            session.commit()
            history.publish(events)
            published += events
    finally:
        for client in clients.values():
            client.close()
    events = retire(session, now=now())
    session.commit()
    history.publish(events)
    published += events
    for source in source_config.current().prometheus:
        events = sync_source(
            session, source, timeout=settings.prometheus_timeout_seconds, now=now()
        )
        session.commit()
        history.publish(events)
        published += events
    return published


def retire(session: Session, *, now: datetime) -> list[Event]:
    """Active alerts of rules disabled or deleted since stop holding (Resolved or Normal)."""
    query = (
        select(Alert)
        .outerjoin(AlertRule, col(AlertRule.id) == Alert.rule_id)
        .where(Alert.source == OPSSIGHT, col(Alert.state).in_(list(ACTIVE)))
        .where(or_(col(AlertRule.id).is_(None), ~col(AlertRule.enabled)))
    )
    events: list[Event] = []
    for alert in session.exec(query).all():
        new = step(history.snapshot(alert), Observation("absent"), for_seconds=0, now=now)
        events += history.apply(session, alert, new, at=now)
    return events


def sync_source(
    session: Session, source: PrometheusSource, *, timeout: float, now: datetime
) -> list[Event]:
    """Read a source's own rules and alerts; an unreachable source keeps what was read last."""
    try:
        rules = prometheus_alerting.rules(source, timeout=timeout)
        alerts = prometheus_alerting.alerts(source, timeout=timeout)
    except (PrometheusError, ValidationError) as exc:
        log.warning("alerts.source_failed", source=source.name, error=str(exc)[:500])
        return []
    store_rules(session, source.name, rules, now=now)
    return store_alerts(session, source.name, alerts, now=now)


def store_rules(session: Session, source: str, payload: PrometheusRules, *, now: datetime) -> None:
    """Keep the source's alerting rules as they are listed now (rules gone are deleted)."""
    listed: dict[str, AlertRule] = {}
    for group in payload.data.groups:
        for rule in group.rules:
            if rule.type != "alerting":
                continue
            name = f"{source}/{group.name}/{rule.name}"[:200]
            listed.setdefault(
                name,
                AlertRule(
                    source=PROMETHEUS,
                    name=name,
                    expr=rule.query[:4000],
                    for_seconds=int(rule.duration),
                    severity=rule.labels.get("severity", "")[:20],
                    labels=rule.labels,
                    annotations=rule.annotations,
                    datasource=source,
                    health=rule.health[:20],
                    last_error=(rule.lastError or None) and rule.lastError[:2000],
                    last_evaluated_at=now,
                ),
            )
    mine = select(AlertRule).where(AlertRule.source == PROMETHEUS, AlertRule.datasource == source)
    for row in session.exec(mine).all():
        fresh = listed.pop(row.name, None)
        if fresh is None:
            session.delete(row)
            continue
        for field in ("expr", "for_seconds", "severity", "labels", "annotations", "health"):
            setattr(row, field, getattr(fresh, field))
        row.last_error, row.last_evaluated_at, row.updated_at = fresh.last_error, now, now
        session.add(row)
    session.add_all(listed.values())


def store_alerts(
    session: Session, source: str, payload: PrometheusAlerts, *, now: datetime
) -> list[Event]:
    """Prometheus's alerts as instances: pending and firing as it reports them, gone: resolved."""
    scope = f"{PROMETHEUS}:{source}"
    query = select(Alert).where(Alert.source == PROMETHEUS, Alert.datasource == source)
    stored = {alert.fingerprint: alert for alert in session.exec(query)}
    events: list[Event] = []
    present: set[str] = set()
    for item in payload.data.alerts:
        if item.state not in ("pending", "firing"):
            continue
        fp = history.fingerprint(scope, item.labels)
        present.add(fp)
        alert = stored.get(fp) or history.instance(
            session,
            source=PROMETHEUS,
            fingerprint=fp,
            datasource=source,
            name=item.labels.get("alertname", "")[:200],
            labels=item.labels,
            updated_at=now,
        )
        value = _float(item.value)
        prev = history.snapshot(alert)
        if item.state == "pending":
            started = prev.started_at if prev.state == State.PENDING else (item.activeAt or now)
            new = Snapshot(State.PENDING, started, prev.firing_at, prev.resolved_at, value)
        else:
            new = step(prev, Observation("value", value), for_seconds=0, now=now)
        alert.severity = item.labels.get("severity", "")[:20]
        alert.annotations = item.annotations
        events += history.apply(session, alert, new, at=now)
    for fp, alert in stored.items():
        if fp not in present and alert.state in ACTIVE:
            new = step(history.snapshot(alert), Observation("absent"), for_seconds=0, now=now)
            events += history.apply(session, alert, new, at=now)
    return events


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
