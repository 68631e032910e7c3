"""Rule changes (audited), acknowledgements, the page's queries and per-rule figures, on both
databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from opssight.models import Alert, AlertRule, AuditLog, User
from opssight.models.base import utcnow
from opssight.schemas.alerting import RuleForm
from opssight.services.alerting import history, queries, rules
from opssight.services.alerting.states import Snapshot, State

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def alice(session: Session) -> User:
    user = User(login="alice", role="developer")
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def form(**values: object) -> RuleForm:
    return RuleForm.model_validate({"name": "HighLatency", "expr": "latency > 1", **values})


def alert(session: Session, name: str, state: State, *, severity: str = "warning", at=T0) -> Alert:
    row = history.instance(
        session, source="alertmanager", fingerprint=f"{name}-{state}", name=name, updated_at=at
    )
    row.severity = severity
    history.apply(session, row, Snapshot(state, at, at if state == State.FIRING else None), at=at)
    session.commit()
    return row


def test_rule_changes_are_audited(session, alice):
    rule = rules.create_rule(session, form(severity="critical", for_seconds=60), actor=alice)
    assert (rule.source, rule.severity, rule.for_seconds, rule.enabled) == (
        "opssight",
        "critical",
        60,
        True,
    )
    rules.set_enabled(session, rule.id, False, actor=alice)
    rules.update_rule(session, rule.id, form(expr="latency > 2"), actor=alice)
    rules.update_rule(session, rule.id, form(expr="latency > 2"), actor=alice)  # no change
    rules.delete_rule(session, rule.id, actor=alice)
    entries = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [e.action for e in entries] == [
        "alert_rule.create",
        "alert_rule.disable",
        "alert_rule.update",
        "alert_rule.delete",
    ]
    assert entries[2].before["expr"] == "latency > 1" and entries[2].after["expr"] == "latency > 2"
    assert all(e.actor_login == "alice" for e in entries)
    assert session.get(AlertRule, rule.id) is None


def test_bad_rule_changes_are_refused_and_change_nothing(session, alice):
    rules.create_rule(session, form(), actor=alice)
    with pytest.raises(rules.AlertingError, match="already exists"):
        rules.create_rule(session, form(), actor=alice)
    prometheus = AlertRule(source="prometheus", name="p/g/r", expr="up == 0")
    session.add(prometheus)
    session.commit()
    with pytest.raises(rules.AlertingError, match="changed in Prometheus"):
        rules.delete_rule(session, prometheus.id, actor=alice)
    with pytest.raises(rules.AlertingError, match="no longer exists"):
        rules.update_rule(session, 999_999, form(), actor=alice)
    with pytest.raises(ValueError, match="not a label name"):
        form(labels={"bad-name": "x"})
    assert [e.action for e in session.exec(select(AuditLog))] == ["alert_rule.create"]


def test_acknowledge_records_who_and_when_once(session, alice):
    firing = alert(session, "Down", State.FIRING)
    acked = rules.acknowledge(session, firing.id, actor=alice)
    assert acked.acknowledged_by == "alice" and acked.acknowledged_at is not None
    with pytest.raises(rules.AlertingError, match="Already acknowledged by alice"):
        rules.acknowledge(session, firing.id, actor=alice)
    resolved = alert(session, "Gone", State.RESOLVED)
    with pytest.raises(rules.AlertingError, match="Only active alerts"):
        rules.acknowledge(session, resolved.id, actor=alice)
    [row] = queries.transitions(session, alert_id=firing.id, limit=1)
    assert (row.actor, row.to_state) == ("alice", "Firing")


def test_alerts_are_listed_firing_first_and_filtered(session):
    alert(session, "Old", State.RESOLVED)
    alert(session, "Waiting", State.PENDING, severity="critical")
    alert(session, "Burning", State.FIRING, severity="critical", at=T0 - timedelta(hours=1))
    names = [a.name for a in queries.list_alerts(session, queries.AlertFilter())]
    assert names == ["Burning", "Waiting", "Old"]
    critical = queries.AlertFilter(severity="critical", state=State.PENDING)
    assert [a.name for a in queries.list_alerts(session, critical)] == ["Waiting"]
    assert [a.name for a in queries.list_alerts(session, queries.AlertFilter(search="urn"))] == [
        "Burning"
    ]
    assert queries.list_alerts(session, queries.AlertFilter(source="opssight")) == []
    assert queries.firing_by_severity(session) == {"critical": 1}


def test_rule_figures_count_firings_flaps_mtta_and_mttr(session, alice):
    row = history.instance(
        session, source="opssight", fingerprint="f", name="Flappy", updated_at=T0
    )
    start = utcnow() - timedelta(minutes=5)  # acknowledged below, 5 minutes after it fired
    times = [start + timedelta(minutes=m) for m in range(0, 60, 10)]
    history.apply(session, row, Snapshot(State.FIRING, times[0], times[0]), at=times[0])
    session.commit()
    rules.acknowledge(session, row.id, actor=alice)
    history.apply(session, row, Snapshot(State.RESOLVED, times[0], times[0], times[1]), at=times[1])
    history.apply(session, row, Snapshot(State.FIRING, times[2], times[2]), at=times[2])
    history.apply(session, row, Snapshot(State.RESOLVED, times[2], times[2], times[5]), at=times[5])
    session.commit()
    [figures] = queries.rule_figures(session, since=start - timedelta(days=1))
    assert (figures.name, figures.firings, figures.flaps) == ("Flappy", 2, 1)
    assert figures.mttr == timedelta(minutes=20)  # 10 and 30 minutes
    assert timedelta(minutes=5) <= figures.mtta < timedelta(minutes=6)
