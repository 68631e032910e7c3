"""The whole alerting chain against a real Prometheus: a rule fires as the exporter's value
changes, its notification reaches a local webhook receiver exactly once, the resolution once,
and a silence stops the next firing's notification."""

from __future__ import annotations

from sqlmodel import Session

from opssight.models import User
from opssight.services.alerting import evaluator, notify, silences
from tests.integration.test_alert_rules import add_rule, alerts, gauge, scraped, until
from tests.integration.test_notifications import Receiver, contact, policy, receiver
from tests.prometheus_server import PrometheusServer

__all__ = ["gauge", "receiver"]  # fixtures this module uses


def firing_alert(session: Session) -> bool:
    evaluator.run_pass(session)
    return [a.state for a in alerts(session)] == ["Firing"]


def test_firing_resolved_and_silenced_notifications(
    prometheus: PrometheusServer, session: Session, gauge: str, receiver: Receiver
):
    hook = contact(session, "hook", "webhook", f"{receiver.url}/hook")
    policy(session, hook, matchers=[["alertname", "=", "ChainHigh"]], group_interval_seconds=0)
    exporter = prometheus.exporter
    exporter.set(gauge, 10, shard="a")
    until(lambda: scraped(prometheus, gauge, 10), f"{gauge} at 10")
    add_rule(session, name="ChainHigh", expr=f"{gauge} > 5", for_seconds=0, severity="critical")

    until(lambda: firing_alert(session), "the rule fires")
    assert notify.run_pass(session) == 1
    assert notify.run_pass(session) == 0  # nothing changed: nothing sent again
    [firing] = receiver.got("/hook")
    assert firing["status"] == "firing" and [a["name"] for a in firing["alerts"]] == ["ChainHigh"]

    exporter.set(gauge, 0, shard="a")
    until(lambda: scraped(prometheus, gauge, 0), f"{gauge} at 0")
    evaluator.run_pass(session)
    assert [a.state for a in alerts(session)] == ["Resolved"]
    assert notify.run_pass(session) == 1
    assert notify.run_pass(session) == 0
    assert receiver.got("/hook")[-1]["status"] == "resolved"

    oncall = User(login="oncall", role="developer")
    session.add(oncall)
    session.commit()
    exporter.set(gauge, 10, shard="a")
    until(lambda: scraped(prometheus, gauge, 10), f"{gauge} at 10 again")
    until(lambda: firing_alert(session), "the rule fires again")
    silences.silence_alert(session, alerts(session)[0].id, actor=oncall, hours=1)
    assert notify.run_pass(session) == 0
    assert len(receiver.got("/hook")) == 2  # the silenced firing was never sent
