"""The demo Alertmanager: recorded notifications restamped to recent times and fed through the
Alertmanager ingestion service; firing/resolved cycles over the last hours, nothing repeated by
a second pass or a restart. On both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from opssight.demo import alerts as demo_alerts
from opssight.models import Alert, AlertTransition
from opssight.models.base import utcnow
from opssight.services.alerting import history, queries

CYCLE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a cycle's start (whole half hours)


def transitions(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AlertTransition)).one()


def test_the_schedule_restamps_the_recorded_alerts() -> None:
    sent = demo_alerts.notifications(CYCLE - timedelta(seconds=1), CYCLE + timedelta(minutes=29))
    moments = [(at - CYCLE).total_seconds() / 60 for at, _ in sent]
    assert moments == sorted(moments) and moments[0] == 0 and moments[-1] == 29
    first = sent[0][1]
    assert (first.receiver, first.version, first.alerts[0].status) == (
        "whatever_promstack_with_resolve",
        "4",
        "firing",
    )
    assert first.alerts[0].startsAt == CYCLE and first.alerts[0].endsAt is None
    throttled = [p for _, p in sent if p.alerts[0].labels["alertname"] == "CPUThrottlingHigh"]
    assert [(p.alerts[0].status, p.alerts[0].fingerprint) for p in throttled] == [
        ("firing", "dd19ae3d4e06ac55"),
        ("resolved", "dd19ae3d4e06ac55"),
    ] * 2
    resolved = throttled[1].alerts[0]
    assert resolved.endsAt - resolved.startsAt == timedelta(minutes=1)  # as recorded


def test_the_feed_fills_recent_history_once(session: Session) -> None:
    feed = demo_alerts.Feed()
    assert feed(session) > 20
    alerts = session.exec(select(Alert).where(Alert.source == demo_alerts.SOURCE)).all()
    assert sorted({a.name for a in alerts}) == ["CPUThrottlingHigh", "JustATestAlert_1"]
    assert len(alerts) == 4
    newest = max(a.updated_at for a in alerts)
    assert utcnow() - newest < timedelta(minutes=30)
    figures = {f.name: f for f in queries.rule_figures(session, since=utcnow() - timedelta(days=1))}
    assert figures["CPUThrottlingHigh"].firings >= 20 and figures["CPUThrottlingHigh"].flaps > 0
    assert figures["CPUThrottlingHigh"].mttr == timedelta(minutes=1)

    stored = transitions(session)
    assert feed(session) == 0
    assert demo_alerts.Feed()(session) == 0  # after a restart: from the newest stored change
    assert transitions(session) == stored


def test_the_demo_alerts_go_when_demo_data_is_turned_off(session: Session) -> None:
    demo_alerts.Feed()(session)
    count = len(session.exec(select(Alert).where(Alert.source == demo_alerts.SOURCE)).all())
    assert count > 0
    assert history.forget_source(session, demo_alerts.SOURCE) == count
    assert session.exec(select(func.count()).select_from(AlertTransition)).one() == 0
    assert session.exec(select(func.count()).select_from(Alert)).one() == 0
