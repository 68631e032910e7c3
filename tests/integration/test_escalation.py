"""Escalation: a critical alert still firing and not acknowledged N minutes after it fired is sent
once more, to the policy's escalation contact point (a local HTTP receiver), once per firing
episode, retried like any delivery; on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from opssight.models import NotificationDelivery, NotificationPolicy, User
from opssight.services.alerting import rules
from tests.integration import test_notifications
from tests.integration.test_notifications import T0, contact, fire, resolve, tick

receiver = test_notifications.receiver  # the local HTTP receiver

MINUTE = timedelta(minutes=1)


def escalating_policy(session: Session, url: str) -> None:
    hook = contact(session, "hook", "webhook", f"{url}/hook")
    pager = contact(session, "pager", "webhook", f"{url}/pager")
    session.add(
        NotificationPolicy(
            name="on-call",
            contact_point_id=hook.id,
            group_by=["alertname"],
            group_wait_seconds=0,
            group_interval_seconds=60,
            repeat_interval_seconds=3600,
            escalate_after_minutes=10,
            escalation_contact_point_id=pager.id,
        )
    )
    session.commit()


def test_an_unacknowledged_critical_alert_escalates_once_per_episode(session, receiver):
    escalating_policy(session, receiver.url)
    disk = fire(session, "DiskFull", T0)
    assert tick(session, T0) == 1
    assert tick(session, T0 + 9 * MINUTE) == 0
    assert receiver.got("/pager") == []

    assert tick(session, T0 + 10 * MINUTE) == 1
    [body] = receiver.got("/pager")
    assert body["escalation"] == {"afterMinutes": 10}
    assert [(a["name"], a["state"]) for a in body["alerts"]] == [("DiskFull", "Firing")]
    for minutes in (11, 30, 59):  # still firing, still not acknowledged: not again
        tick(session, T0 + minutes * MINUTE)
    assert len(receiver.got("/pager")) == 1
    assert len(receiver.got("/hook")) == 1

    resolve(session, disk, T0 + 60 * MINUTE)
    fire(session, "DiskFull", T0 + 70 * MINUTE)  # a new firing episode
    tick(session, T0 + 75 * MINUTE)
    assert len(receiver.got("/pager")) == 1
    tick(session, T0 + 80 * MINUTE)
    assert len(receiver.got("/pager")) == 2
    kinds = session.exec(select(NotificationDelivery.kind).order_by(NotificationDelivery.id))
    assert kinds.all().count("escalation") == 2


def test_acknowledged_and_warning_alerts_do_not_escalate(session, receiver):
    escalating_policy(session, receiver.url)
    oncall = User(login="oncall", role="developer")
    session.add(oncall)
    session.commit()
    acked = fire(session, "Acked", T0)
    warning = fire(session, "Warned", T0)
    warning.severity, warning.labels = "warning", {**warning.labels, "severity": "warning"}
    session.add(warning)
    session.commit()
    tick(session, T0)
    rules.acknowledge(session, acked.id, actor=oncall)
    tick(session, T0 + 15 * MINUTE)
    assert receiver.got("/pager") == []
    assert len(receiver.got("/hook")) == 2


def test_a_failed_escalation_is_retried_on_the_same_path(session, receiver):
    escalating_policy(session, receiver.url)
    fire(session, "DiskFull", T0)
    tick(session, T0)
    receiver.fail = 1
    assert tick(session, T0 + 10 * MINUTE) == 0
    escalation = session.exec(
        select(NotificationDelivery).where(NotificationDelivery.kind == "escalation")
    ).one()
    assert (escalation.status, escalation.attempts) == ("pending", 1)
    assert escalation.last_error.startswith("HTTP 500")
    assert tick(session, T0 + 10 * MINUTE + timedelta(seconds=10)) == 1
    session.refresh(escalation)
    assert (escalation.status, escalation.attempts) == ("sent", 2)
    assert len(receiver.got("/pager")) == 1
