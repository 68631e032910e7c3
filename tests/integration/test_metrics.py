"""The metrics service against a real Prometheus scraping an exporter this test controls."""

from __future__ import annotations

import time

import pytest
from sqlmodel import Session, select

from opssight.config import ConfigError, get_settings
from opssight.models import AuditLog, ConnectorStatus, User
from opssight.services import metrics
from tests.prometheus_server import PrometheusServer
from tests.support import reset_caches


def _user(session: Session, login: str = "alice") -> User:
    user = User(login=login, role="developer")
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def _wait_for(server: PrometheusServer, promql: str, value: float) -> None:
    """Until the server has scraped the value the exporter now serves."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with metrics.client_for("local") as client:
            series = client.query(promql).series
        if series and series[0].points[-1][1] == value:
            return
        time.sleep(0.2)
    pytest.fail(f"{promql} never read {value}")


def test_sources_parse_names_urls_and_tokens(
    monkeypatch: pytest.MonkeyPatch, settings_database: None
) -> None:
    monkeypatch.setenv("OPSSIGHT_PROMETHEUS_URL", "prod=https://u:p@prom:9443/x/, http://b:9090")
    monkeypatch.setenv("OPSSIGHT_PROMETHEUS_TOKEN", "prod=t0ken")
    reset_caches()
    prod, plain = get_settings().prometheus_sources
    assert (prod.name, prod.url, prod.basic_auth, prod.token) == (
        "prod",
        "https://prom:9443/x",
        ("u", "p"),
        "t0ken",
    )
    assert (plain.name, plain.url, plain.token) == ("b:9090", "http://b:9090", None)
    assert metrics.source_names() == ["prod", "b:9090"]
    monkeypatch.setenv("OPSSIGHT_PROMETHEUS_URL", "ftp://nope")
    reset_caches()
    with pytest.raises(ConfigError, match="OPSSIGHT_PROMETHEUS_URL: 'ftp://nope' is not"):
        get_settings()


def test_instant_and_range_queries_read_the_exporters_gauge(
    prometheus: PrometheusServer, session: Session
) -> None:
    prometheus.exporter.set("opssight_test_gauge", 7, shard="a")
    prometheus.exporter.set("opssight_test_gauge", 3, shard="b")
    _wait_for(prometheus, 'opssight_test_gauge{shard="a"}', 7)
    time.sleep(1.1)  # a range query's end is rounded to whole seconds
    user = _user(session)
    instant = metrics.run_query(
        session,
        metrics.QueryRequest(source="local", promql="opssight_test_gauge", mode="instant"),
        user=user,
    )
    assert instant.error == "" and instant.result is not None
    assert instant.result.result_type == "vector"
    by_shard = {s.labels["shard"]: s.points[0][1] for s in instant.result.series}
    assert by_shard == {"a": 7.0, "b": 3.0}

    ranged = metrics.run_query(
        session,
        metrics.QueryRequest(
            source="local", promql='opssight_test_gauge{shard="a"}', preset="15m", step_seconds=1
        ),
        user=user,
    )
    assert ranged.result is not None and ranged.result.result_type == "matrix"
    assert ranged.step_seconds == 1
    assert ranged.result.series[0].points[-1][1] == 7.0
    assert [q.promql for q in metrics.history(session, user.id)] == [
        'opssight_test_gauge{shard="a"}',
        "opssight_test_gauge",
    ]


def test_bad_promql_returns_the_servers_own_error(
    prometheus: PrometheusServer, session: Session
) -> None:
    outcome = metrics.run_query(
        session,
        metrics.QueryRequest(source="local", promql="sum(rate(up[5m])", mode="instant"),
        user=None,
    )
    assert outcome.error_kind == "query" and outcome.error_type == "bad_data"
    assert (
        outcome.error == 'invalid parameter "query": 1:17: parse error: unclosed left parenthesis'
    )


def test_an_unreachable_source_is_named_and_recorded_with_since_when(
    prometheus: PrometheusServer, session: Session, database_url: str
) -> None:
    request = metrics.QueryRequest(source="gone", promql="up", mode="instant")
    first = metrics.run_query(session, request, user=None)
    assert first.error_kind == "down" and "Connection refused" in first.error
    assert first.down_since is not None
    second = metrics.run_query(session, request, user=None)
    assert second.down_since == first.down_since  # still down since the first failure
    row = session.get(ConnectorStatus, "prometheus:gone")
    assert row is not None and row.state == "down" and row.kind == "prometheus"
    assert "unreachable since" in (row.detail or "")
    # the healthy source is checked through its build info
    ok = metrics.check_source(session, "local")
    assert ok.state == "ok" and ok.detail == f"Prometheus {prometheus.version}"
    assert metrics.poll(session) == 1


def test_saved_panels_are_audited_and_arranged(
    prometheus: PrometheusServer, session: Session
) -> None:
    user = _user(session)
    first, second, third = (
        metrics.create_panel(
            session,
            metrics.PanelCreate(title=f"p{i}", promql="up", source="local", chart_type="area"),
            actor=user,
        )
        for i in range(3)
    )
    assert [p.title for p in metrics.list_panels(session)] == ["p0", "p1", "p2"]
    assert metrics.move_panel(session, third.id, -1, actor=user)
    assert not metrics.move_panel(session, first.id, -1, actor=user)  # already first
    assert [p.title for p in metrics.list_panels(session)] == ["p0", "p2", "p1"]
    assert metrics.delete_panel(session, second.id, actor=user)
    assert [p.title for p in metrics.list_panels(session)] == ["p0", "p2"]
    actions = [
        (a.action, a.target_id, a.actor_login)
        for a in session.exec(select(AuditLog).order_by(AuditLog.id))
    ]
    assert actions == [
        ("metrics.panel.create", str(first.id), "alice"),
        ("metrics.panel.create", str(second.id), "alice"),
        ("metrics.panel.create", str(third.id), "alice"),
        ("metrics.panel.move", str(third.id), "alice"),
        ("metrics.panel.delete", str(second.id), "alice"),
    ]
    data = metrics.panel_data(metrics.list_panels(session)[0])
    assert data.error == "" and data.result is not None and data.result.result_type == "matrix"


def test_golden_signals_offered_for_the_metrics_that_exist(
    prometheus: PrometheusServer,
) -> None:
    panels = {p.signal: p.promql for p in metrics.golden_panels("local")}
    assert set(panels) == {"latency", "traffic", "errors", "saturation"}
    assert 'http_requests_total{code=~"5.."}' in panels["errors"]
    for promql in panels.values():
        with metrics.client_for("local") as client:
            client.query(promql)  # each one is valid PromQL for the real server


def test_the_demo_source_answers_recorded_payloads(session: Session) -> None:
    assert get_settings().demo_enabled and metrics.source_names() == ["demo"]
    up = metrics.run_query(
        session, metrics.QueryRequest(source="demo", promql="up", mode="instant"), user=None
    )
    assert up.demo and up.result is not None and len(up.result.series) == 2
    bad = metrics.run_query(
        session, metrics.QueryRequest(source="demo", promql="sum(up", mode="range"), user=None
    )
    assert bad.error_kind == "query"
    assert bad.error == 'invalid parameter "query": 1:7: parse error: unclosed left parenthesis'
    other = metrics.run_query(
        session, metrics.QueryRequest(source="demo", promql="rate(x[5m])"), user=None
    )
    assert other.error_kind == "source" and "recorded queries" in other.error
