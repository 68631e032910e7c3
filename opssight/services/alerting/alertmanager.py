"""Alertmanager webhook notifications (payload version 4) into the alert history.

Each alert is one instance keyed by Alertmanager's fingerprint. A notification repeating what is
stored changes nothing (Alertmanager re-sends every ``repeat_interval``); a stale one (firing
for an episode already resolved) is ignored. State changes are stored as transitions at the
alert's own times (``startsAt`` / ``endsAt``).
"""

from __future__ import annotations

import hmac
from datetime import datetime

from pydantic import ValidationError
from sqlmodel import Session

from opssight.events import Event
from opssight.models.base import utcnow
from opssight.schemas.alerting import AlertmanagerAlert, AlertmanagerPayload
from opssight.schemas.connector import ConnectorCheck
from opssight.services.alerting import history
from opssight.services.alerting.states import Snapshot, State

SOURCE = "alertmanager"
CONNECTOR = "alertmanager:webhook"


class BadJson(ValueError):
    """The body is not JSON."""


class InvalidPayload(ValueError):
    """JSON, but not an Alertmanager version 4 notification."""


def token_is_valid(expected: str, header: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(expected.encode(), token.strip().encode())


def parse(body: bytes) -> AlertmanagerPayload:
    """The notification from the raw body. Raises BadJson or InvalidPayload."""
    try:
        return AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise BadJson(exc.errors()[0]["msg"]) from exc
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidPayload(
            f"not an Alertmanager v4 notification: {exc.error_count()} error(s), "
            f"first at {where or 'body'}: {first['msg']}"
        ) from exc


def _target(alert: AlertmanagerAlert, stored: Snapshot, now: datetime) -> Snapshot | None:
    """The snapshot this notification asks for; None when it is stale or changes nothing."""
    if alert.status == "firing":
        if stored.resolved_at is not None and alert.startsAt <= stored.resolved_at:
            return None  # an episode that already resolved
        if stored.state == State.FIRING and stored.firing_at == alert.startsAt:
            return None
        return Snapshot(State.FIRING, alert.startsAt, alert.startsAt, None)
    if stored.state == State.RESOLVED and stored.firing_at == alert.startsAt:
        return None
    resolved = alert.endsAt or now
    return Snapshot(State.RESOLVED, alert.startsAt, alert.startsAt, resolved)


def store(
    session: Session, payload: AlertmanagerPayload, *, source: str = SOURCE
) -> tuple[int, list[Event]]:
    """Write the notification's alerts (as alerts of ``source``) and commit; returns how many
    changed state and the events to publish."""
    now = utcnow()
    events: list[Event] = []
    changed = 0
    for alert in payload.alerts:
        row = history.instance(
            session,
            source=source,
            fingerprint=alert.fingerprint,
            name=alert.labels.get("alertname", alert.fingerprint)[:200],
            updated_at=now,
        )
        target = _target(alert, history.snapshot(row), now)
        row.labels, row.annotations = alert.labels, alert.annotations
        row.severity = alert.labels.get("severity", "")[:20]
        row.generator_url = alert.generatorURL or None
        if target is None:
            session.add(row)
            continue
        at = target.resolved_at if target.state == State.RESOLVED else target.firing_at
        assert at is not None
        moved = history.apply(session, row, target, at=at)
        changed += bool(moved)
        events += moved
    session.commit()
    return changed, events


def receipt_check(payload: AlertmanagerPayload) -> ConnectorCheck:
    """The receiver's connector after an accepted notification: who sent what, and when."""
    return ConnectorCheck(
        name=CONNECTOR,
        kind="alertmanager",
        state="ok",
        detail=f"{len(payload.alerts)} alert(s) from receiver {payload.receiver}"[:500],
        facts={
            "Last notification": utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"),
            "Receiver": payload.receiver[:200],
            "Alertmanager": payload.externalURL[:200],
        },
    )
