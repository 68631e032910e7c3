"""Silences made from an alert: its exact label set, for a while; expiring one ends it now.

A silence's matchers are ``[name, "=", value]`` triples over ``notify.labels_of`` (the alert's
labels plus its name, severity and source), so it silences that alert and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from opssight.events import Event, get_bus
from opssight.models import Alert, Silence, User
from opssight.models.base import utcnow
from opssight.services import audit
from opssight.services.alerting.history import TOPIC
from opssight.services.alerting.notify import labels_of
from opssight.services.alerting.rules import AlertingError

DURATIONS_HOURS = (1, 4, 24)


def _shown(silence: Silence) -> dict[str, str]:
    return {"until": silence.ends_at.isoformat(), "comment": silence.comment}


def silence_alert(session: Session, alert_id: int, *, actor: User, hours: int) -> Silence:
    """Silence this alert's notifications for ``hours`` (one of ``DURATIONS_HOURS``)."""
    if hours not in DURATIONS_HOURS:
        raise AlertingError(f"A silence lasts {', '.join(map(str, DURATIONS_HOURS))} hours.")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertingError("That alert no longer exists.")
    now = utcnow()
    silence = Silence(
        matchers=[[name, "=", value] for name, value in sorted(labels_of(alert).items())],
        starts_at=now,
        ends_at=now + timedelta(hours=hours),
        comment=f"from alert {alert.name}"[:500],
        created_by=actor.login,
    )
    session.add(silence)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="silence.create",
        target_type="silence",
        target_id=str(silence.id),
        before=None,
        after={**_shown(silence), "alert": str(alert.id)},
    )
    session.commit()
    get_bus().publish(Event(topic=TOPIC, keys={"silence": str(silence.id)}))
    return silence


def active(session: Session) -> list[Silence]:
    """Silences in force now, ending soonest first."""
    now = utcnow()
    query = (
        select(Silence)
        .where(col(Silence.starts_at) <= now, col(Silence.ends_at) > now)
        .order_by(col(Silence.ends_at), col(Silence.id))
    )
    return list(session.exec(query))


def expire(session: Session, silence_id: int, *, actor: User) -> Silence:
    """End a silence now (its alerts notify again from the next pass)."""
    silence = session.get(Silence, silence_id)
    now = utcnow()
    if silence is None or silence.ends_at <= now:
        raise AlertingError("That silence has already ended.")
    before = _shown(silence)
    silence.ends_at = now
    session.add(silence)
    audit.record(
        session,
        actor=actor,
        action="silence.expire",
        target_type="silence",
        target_id=str(silence.id),
        before=before,
        after=_shown(silence),
    )
    session.commit()
    get_bus().publish(Event(topic=TOPIC, keys={"silence": str(silence.id)}))
    return silence
