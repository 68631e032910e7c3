"""Silencing an alert from the Alerts page: exactly that alert, for a while, audited."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from opssight.models import Alert, AuditLog, User
from opssight.models.base import utcnow
from opssight.services.alerting import notify, silences
from opssight.services.alerting.rules import AlertingError


def alert(session: Session, fingerprint: str, **labels: str) -> Alert:
    row = Alert(
        source="alertmanager",
        fingerprint=fingerprint,
        name=labels["alertname"],
        severity="critical",
        labels=labels,
        state="Firing",
        updated_at=utcnow(),
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def test_a_silence_from_an_alert_matches_that_alert_only(session: Session) -> None:
    oncall = User(login="oncall", role="developer")
    session.add(oncall)
    session.commit()
    crash = alert(session, "a1", alertname="PodCrash", namespace="pay", pod="api-1")
    other = alert(session, "a2", alertname="PodCrash", namespace="pay", pod="api-2")

    made = silences.silence_alert(session, crash.id, actor=oncall, hours=4)
    assert notify.matches(made.matchers, notify.labels_of(crash))
    assert not notify.matches(made.matchers, notify.labels_of(other))
    assert 3.9 * 3600 < (made.ends_at - made.starts_at).total_seconds() <= 4 * 3600
    assert [s.id for s in silences.active(session)] == [made.id]

    silences.expire(session, made.id, actor=oncall)
    assert silences.active(session) == []
    with pytest.raises(AlertingError, match="already ended"):
        silences.expire(session, made.id, actor=oncall)
    actions = [e.action for e in session.exec(select(AuditLog).order_by(AuditLog.id)).all()]
    assert actions == ["silence.create", "silence.expire"]


def test_bad_silences_are_refused(session: Session) -> None:
    oncall = User(login="oncall", role="developer")
    session.add(oncall)
    session.commit()
    crash = alert(session, "a1", alertname="PodCrash")
    with pytest.raises(AlertingError, match="hours"):
        silences.silence_alert(session, crash.id, actor=oncall, hours=1000)
    with pytest.raises(AlertingError, match="no longer exists"):
        silences.silence_alert(session, crash.id + 99, actor=oncall, hours=1)
    assert silences.active(session) == []
