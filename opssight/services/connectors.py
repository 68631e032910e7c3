"""Connector status: record each health check (the latest, and a row of history), publish
``connectors`` events, list for the UI."""

from __future__ import annotations

from sqlmodel import Session, col, delete, select

from opssight.events import Event, get_bus
from opssight.models import ConnectorCheckEntry, ConnectorStatus
from opssight.models.base import utcnow
from opssight.schemas.connector import ConnectorCheck

TOPIC = "connectors"


def record_check(session: Session, check: ConnectorCheck) -> ConnectorStatus:
    """Upsert the connector's row from one check and add it to the history, commit, then
    announce it."""
    row = session.get(ConnectorStatus, check.name) or ConnectorStatus(
        name=check.name, kind=check.kind
    )
    now = utcnow()
    row.kind = check.kind
    row.state = check.state
    row.is_demo = check.is_demo
    row.detail = check.detail
    row.latency_ms = check.latency_ms
    row.facts = check.facts
    row.checked_at = now
    if check.state == "ok":
        row.last_success_at = now
    if check.error:
        row.last_error = check.error
        row.last_error_at = now
    session.add(row)
    session.add(
        ConnectorCheckEntry(
            name=check.name,
            state=check.state,
            latency_ms=check.latency_ms,
            error=check.error,
            at=now,
        )
    )
    session.commit()
    session.refresh(row)
    get_bus().publish(Event(topic=TOPIC, keys={"name": check.name}))
    return row


def list_connectors(session: Session) -> list[ConnectorStatus]:
    return list(session.exec(select(ConnectorStatus).order_by(ConnectorStatus.name)))


def forget_demo(session: Session) -> int:
    """Drop demo connector rows and their history (the demo source was turned off); returns
    how many."""
    rows = list(session.exec(select(ConnectorStatus).where(ConnectorStatus.is_demo)))
    names = [row.name for row in rows]
    session.exec(delete(ConnectorCheckEntry).where(col(ConnectorCheckEntry.name).in_(names)))
    for row in rows:
        session.delete(row)
    session.commit()
    if rows:
        get_bus().publish(Event(topic=TOPIC, keys={"name": "*"}))
    return len(rows)
