"""Alert instances and their history: every source writes state changes through ``apply``.

``instance`` finds or creates an alert row and locks it (``SELECT … FOR UPDATE`` on PostgreSQL)
so that concurrent writers of one instance serialize. ``apply`` writes a new snapshot: a state
change adds an ``AlertTransition`` row (kept forever) and, for a critical alert, writes its DORA
incident (``services.incidents.alert_changes``). The caller commits, then publishes the events.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from opssight.events import Event, get_bus
from opssight.models import Alert, AlertTransition
from opssight.services import incidents, pipelines
from opssight.services.alerting.states import Snapshot, State
from opssight.services.upsert import insert_new

TOPIC = "alerts"
_TEMPLATE = re.compile(r"\{\{\s*\$(?:labels\.([A-Za-z_][A-Za-z0-9_]*)|(value))\s*\}\}")


def fingerprint(scope: str, labels: dict[str, str]) -> str:
    """A stable id of a label set within ``scope`` (e.g. an OpsSight rule id)."""
    text = json.dumps([scope, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def render(
    templates: dict[str, str], labels: dict[str, str], value: float | None
) -> dict[str, str]:
    """Annotations with ``{{ $labels.name }}`` and ``{{ $value }}`` filled in (a missing label
    renders empty, as in Prometheus)."""

    def fill(match: re.Match[str]) -> str:
        if match.group(2):
            return "" if value is None else f"{value:g}"
        return labels.get(match.group(1), "")

    return {key: _TEMPLATE.sub(fill, text) for key, text in templates.items()}


def snapshot(alert: Alert) -> Snapshot:
    return Snapshot(
        State(alert.state),
        alert.started_at,
        alert.firing_at,
        alert.resolved_at,
        alert.value,
        alert.error,
    )


def instance(session: Session, *, source: str, fingerprint: str, **values: Any) -> Alert:
    """The locked row of this instance, created with ``values`` (name, labels, …) if new."""
    row = {"severity": "", "labels": {}, "annotations": {}, "state": State.NORMAL.value}
    row |= values | {"source": source, "fingerprint": fingerprint}
    insert_new(session, Alert, row, keys=("source", "fingerprint"))
    query = select(Alert).where(Alert.source == source, Alert.fingerprint == fingerprint)
    return session.exec(query.with_for_update()).one()


def apply(session: Session, alert: Alert, new: Snapshot, *, at: datetime) -> list[Event]:
    """Write ``new`` onto ``alert``; returns the events to publish after the commit (none when
    nothing but the value changed). A new episode clears the acknowledgement."""
    old = State(alert.state)
    refired = new.state == State.FIRING and new.firing_at != alert.firing_at
    moved = new.state != old or new.error != alert.error or refired
    if new.state in (State.PENDING, State.FIRING) and old in (State.NORMAL, State.RESOLVED):
        alert.acknowledged_by = alert.acknowledged_at = None
    alert.state = new.state
    alert.started_at, alert.firing_at, alert.resolved_at = (
        new.started_at,
        new.firing_at,
        new.resolved_at,
    )
    alert.value, alert.error, alert.updated_at = new.value, new.error, at
    session.add(alert)
    if not moved:
        return []
    session.add(
        AlertTransition(
            alert_id=alert.id,
            from_state=old,
            to_state=new.state,
            at=at,
            value=new.value,
            error=new.error,
        )
    )
    events = pipelines.apply_changes(session, incidents.alert_changes(alert))
    return [Event(topic=TOPIC, keys={"source": alert.source, "id": str(alert.id)}), *events]


def publish(events: list[Event]) -> None:
    """Announce committed changes once per (topic, keys)."""
    bus, seen = get_bus(), set()
    for event in events:
        key = (event.topic, tuple(sorted(event.keys.items())))
        if key not in seen:
            seen.add(key)
            bus.publish(event)


def forget_source(session: Session, source: str) -> int:
    """Drop one source's alerts and their history (the demo source once demo data is off);
    returns how many alerts went."""
    alerts = select(Alert.id).where(Alert.source == source)
    session.exec(delete(AlertTransition).where(col(AlertTransition.alert_id).in_(alerts)))
    gone = session.exec(delete(Alert).where(col(Alert.source) == source)).rowcount
    session.commit()
    if gone:
        get_bus().publish(Event(topic=TOPIC, keys={"source": source}))
    return gone
