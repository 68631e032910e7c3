"""Rule evaluation against a real Prometheus scraping an exporter this test controls, and the
evaluation service's NoData/Error paths, on both databases."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from opssight.models import Alert, AlertRule, AlertTransition, Incident
from opssight.services.alerting import evaluator
from opssight.services.alerting.evaluator import Sample
from tests.prometheus_server import PrometheusServer

WAIT_SECONDS = 20.0


@pytest.fixture
def gauge() -> str:
    """A metric name of this test alone (the server is shared by the whole run)."""
    return f"alert_test_{uuid.uuid4().hex[:8]}"


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"never: {what}")


def scraped(server: PrometheusServer, promql: str, value: float) -> bool:
    answer = httpx.get(f"{server.url}/api/v1/query", params={"query": promql}, timeout=2).json()
    result = answer["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) == value


def alerts(session: Session, source: str = "opssight") -> list[Alert]:
    session.expire_all()
    return list(session.exec(select(Alert).where(Alert.source == source).order_by(Alert.id)))


def transitions(session: Session, alert: Alert) -> list[tuple[str | None, str]]:
    query = select(AlertTransition).where(AlertTransition.alert_id == alert.id)
    return [(t.from_state, t.to_state) for t in session.exec(query.order_by(AlertTransition.id))]


def add_rule(session: Session, **values: object) -> AlertRule:
    rule = AlertRule(**values)
    session.add(rule)
    session.commit()
    session.refresh(rule)
    return rule


def test_a_rule_goes_pending_firing_resolved_as_the_gauge_changes(prometheus, session, gauge):
    exporter = prometheus.exporter
    exporter.set(gauge, 1, shard="a")
    until(lambda: scraped(prometheus, gauge, 1), f"{gauge} scraped")
    add_rule(
        session,
        name="GaugeHigh",
        expr=f"{gauge} > 5",
        for_seconds=2,
        severity="critical",
        labels={"team": "ops"},
        annotations={"summary": "shard {{ $labels.shard }} at {{ $value }}"},
    )
    evaluator.run_pass(session)
    assert alerts(session) == []  # the condition does not hold: nothing to follow

    exporter.set(gauge, 10, shard="a")
    until(lambda: scraped(prometheus, gauge, 10), f"{gauge} at 10")
    evaluator.run_pass(session)
    [alert] = alerts(session)
    assert (alert.state, alert.value, alert.severity) == ("Pending", 10.0, "critical")
    exporter_labels = {"job": "exporter", "instance": prometheus.exporter.address}
    assert alert.labels == {
        **exporter_labels,
        "shard": "a",
        "team": "ops",
        "alertname": "GaugeHigh",
    }
    assert alert.annotations == {"summary": "shard a at 10"}

    until(lambda: evaluator.run_pass(session) and alerts(session)[0].state == "Firing", "Firing")
    [alert] = alerts(session)
    assert alert.firing_at - alert.started_at >= timedelta(seconds=2)
    [incident] = session.exec(select(Incident)).all()
    assert (incident.source, incident.created_at, incident.resolved_at) == (
        "alert",
        alert.firing_at,
        None,
    )

    exporter.set(gauge, 0, shard="a")
    until(lambda: scraped(prometheus, gauge, 0), f"{gauge} at 0")
    evaluator.run_pass(session)
    [alert] = alerts(session)
    assert alert.state == "Resolved" and alert.resolved_at is not None
    assert transitions(session, alert) == [
        ("Normal", "Pending"),
        ("Pending", "Firing"),
        ("Firing", "Resolved"),
    ]
    session.expire_all()
    assert session.exec(select(Incident)).one().resolved_at == alert.resolved_at


def test_bad_promql_and_an_unreachable_source_are_errors_with_the_message(prometheus, session):
    bad = add_rule(session, name="Bad", expr="sum(rate(x[5m])")
    away = add_rule(session, name="Away", expr="up", datasource="gone")
    unknown = add_rule(session, name="Unknown", expr="up", datasource="nowhere")
    evaluator.run_pass(session)
    by_rule = {a.rule_id: a for a in alerts(session)}
    assert by_rule[bad.id].state == "Error" and "parse error" in by_rule[bad.id].error
    assert by_rule[away.id].state == "Error" and "unreachable" in by_rule[away.id].error
    assert "nowhere" in by_rule[unknown.id].error
    session.refresh(bad)
    assert bad.health == "err" and bad.last_error == by_rule[bad.id].error

    # fixed: the error instance goes back to Normal, the rule is healthy
    bad.expr = "vector(0) > 1"
    session.add(bad)
    session.commit()
    evaluator.run_pass(session)
    session.refresh(bad)
    assert bad.health == "ok" and bad.last_error is None


@pytest.fixture
def rules_file(prometheus: PrometheusServer, gauge: str) -> Iterator[None]:
    """Prometheus's own alerting rule on the gauge, loaded by reloading its config (restored
    afterwards)."""
    flags = httpx.get(f"{prometheus.url}/api/v1/status/flags", timeout=2).json()["data"]
    config = Path(flags["config.file"])
    original = config.read_text()
    rules = config.with_name(f"{gauge}.rules.yml")
    rules.write_text(
        "groups:\n  - name: tests\n    rules:\n"
        f"      - alert: GaugeAbove5\n        expr: {gauge} > 5\n        for: 0s\n"
        "        labels:\n          severity: critical\n"
        "        annotations:\n          summary: 'at {{ $value }}'\n"
    )
    config.write_text(original + f"rule_files:\n  - {rules}\n")
    try:
        httpx.post(f"{prometheus.url}/-/reload", timeout=5).raise_for_status()
        yield
    finally:
        config.write_text(original)
        httpx.post(f"{prometheus.url}/-/reload", timeout=5)


def test_prometheus_own_rules_and_alerts_are_kept(prometheus, session, gauge, rules_file):
    exporter = prometheus.exporter
    exporter.set(gauge, 10)
    evaluator.run_pass(session)
    [rule] = session.exec(select(AlertRule).where(AlertRule.source == "prometheus")).all()
    assert (rule.name, rule.expr, rule.severity, rule.datasource) == (
        "local/tests/GaugeAbove5",
        f"{gauge} > 5",
        "critical",
        "local",
    )

    def firing() -> bool:
        evaluator.run_pass(session)
        return [a.state for a in alerts(session, "prometheus")] == ["Firing"]

    until(firing, "Prometheus's alert firing")
    [alert] = alerts(session, "prometheus")
    assert (alert.name, alert.datasource, alert.annotations) == (
        "GaugeAbove5",
        "local",
        {"summary": "at 10"},
    )
    exporter.set(gauge, 0)

    def resolved() -> bool:
        evaluator.run_pass(session)
        return alerts(session, "prometheus")[0].state == "Resolved"

    until(resolved, "Prometheus's alert resolved")


def test_an_empty_answer_is_nodata_only_when_the_rule_asks_for_it(session):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for no_data_state, expected in (("NoData", "NoData"), ("Normal", "Resolved")):
        rule = add_rule(session, name=f"r-{no_data_state}", expr="x", no_data_state=no_data_state)
        evaluator.apply_rule(session, rule, [Sample({"pod": "p"}, 1.0)], now=now)
        session.commit()
        evaluator.apply_rule(session, rule, [], now=now + timedelta(seconds=30))
        session.commit()
        [alert] = [a for a in alerts(session) if a.rule_id == rule.id]
        assert alert.state == expected


def test_alerts_of_disabled_or_deleted_rules_stop(session):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    kept = add_rule(session, name="kept", expr="x", enabled=False)
    gone = add_rule(session, name="gone", expr="x")
    for rule in (kept, gone):
        evaluator.apply_rule(session, rule, [Sample({}, 1.0)], now=now)
    session.delete(gone)
    session.commit()
    evaluator.retire(session, now=now + timedelta(minutes=1))
    session.commit()
    assert [(a.name, a.state) for a in alerts(session)] == [
        ("kept", "Resolved"),
        ("gone", "Resolved"),
    ]


def test_series_gone_from_a_nonempty_answer_resolve_and_others_keep_firing(session):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rule = add_rule(session, name="pods", expr="x")
    both = [Sample({"pod": "a"}, 1.0), Sample({"pod": "b"}, 2.0)]
    evaluator.apply_rule(session, rule, both, now=now)
    session.commit()
    evaluator.apply_rule(session, rule, both[1:], now=now + timedelta(seconds=30))
    session.commit()
    states = {a.labels["pod"]: a.state for a in alerts(session)}
    assert states == {"a": "Resolved", "b": "Firing"}
