"""Who may run ad-hoc PromQL (metrics:view; a demo visitor on the demo source only) and editing
a saved panel (audited), against a real Prometheus."""

from __future__ import annotations

from sqlmodel import Session, select

from opssight.models import AuditLog, User
from opssight.services import metrics
from opssight.services.auth.rbac import GUEST_PERMISSIONS, permissions_for
from tests.prometheus_server import PrometheusServer


def test_running_promql_needs_metrics_view(prometheus: PrometheusServer) -> None:
    for role in ("viewer", "developer", "admin"):
        assert metrics.may_query(permissions_for(role), "local", guest=False), role
    assert not metrics.may_query(permissions_for("user"), "local", guest=False)
    assert not metrics.may_query(GUEST_PERMISSIONS, "local", guest=True)  # a real source


def test_a_demo_visitor_may_query_the_demo_source_only(session: Session) -> None:
    assert metrics.source_names() == ["demo"]
    assert metrics.may_query(GUEST_PERMISSIONS, "demo", guest=True)
    assert not metrics.may_query(permissions_for("user"), "demo", guest=False)


def test_a_saved_panel_is_edited_and_audited(
    prometheus: PrometheusServer, session: Session
) -> None:
    alice = User(login="alice", role="developer")
    session.add(alice)
    session.commit()
    made = metrics.create_panel(
        session, metrics.PanelCreate(title="Up", promql="up", source="local"), actor=alice
    )
    edited = metrics.PanelCreate(
        title="Targets up", promql="sum(up)", source="local", range_preset="6h", chart_type="area"
    )
    panel = metrics.update_panel(session, made.id, edited, actor=alice)
    assert panel is not None
    assert (panel.title, panel.promql, panel.range_preset, panel.chart_type, panel.position) == (
        "Targets up",
        "sum(up)",
        "6h",
        "area",
        made.position,
    )
    assert metrics.update_panel(session, made.id, edited, actor=alice) is not None  # unchanged
    assert metrics.update_panel(session, made.id + 100, edited, actor=alice) is None
    entries = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [e.action for e in entries] == ["metrics.panel.create", "metrics.panel.update"]
    assert entries[1].before["promql"] == "up" and entries[1].after["promql"] == "sum(up)"
    data = metrics.panel_data(metrics.list_panels(session)[0])
    assert data.error == "" and data.result is not None and data.result.result_type == "matrix"
