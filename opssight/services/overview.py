"""What the Overview page shows: connector cards and counts of stored objects."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from opssight.models import (
    AlertTransition,
    AuditLog,
    AutomationResult,
    AutomationRun,
    ConnectorStatus,
    Deployment,
    KubePod,
    MetricPanel,
    PullRequest,
    User,
    UserSession,
    WebhookDelivery,
    WorkflowJob,
    WorkflowRun,
)
from opssight.models.base import utcnow
from opssight.services import kube_queries
from opssight.services.alerting import queries as alert_queries
from opssight.services.automation.queries import AutomationCard, automation_card
from opssight.services.connectors import list_connectors

# (label, table) pairs counted on the Overview; each integration adds its own tables here.
STORED_OBJECTS: list[tuple[str, type[SQLModel]]] = [
    ("Connectors", ConnectorStatus),
    ("Workflow runs", WorkflowRun),
    ("Jobs", WorkflowJob),
    ("Pull requests", PullRequest),
    ("Deployments", Deployment),
    ("Kubernetes pods", KubePod),
    ("Metric panels", MetricPanel),
    ("Alert state changes", AlertTransition),
    ("Ansible runs", AutomationRun),
    ("Ansible host results", AutomationResult),
    ("Webhook deliveries", WebhookDelivery),
    ("Users", User),
    ("Sessions", UserSession),
    ("Audit entries", AuditLog),
]


class ConnectorCard(BaseModel):
    name: str
    kind: str
    state: str
    is_demo: bool
    detail: str
    latency: str
    checked_at: datetime
    last_error: str


class CountCard(BaseModel):
    label: str
    count: int


class PipelineCard(BaseModel):
    """GitHub Actions over the last 24 hours."""

    runs: int
    running: int
    failed: int
    success_rate: float | None


class KubernetesCard(BaseModel):
    """Every watched cluster together."""

    clusters_ok: int = 0
    clusters_total: int = 0
    nodes_ready: int = 0
    nodes_total: int = 0
    pods_running: int = 0
    pods_total: int = 0
    open_problems: int = 0


class AlertsCard(BaseModel):
    """Alerts firing now by severity."""

    critical: int = 0
    warning: int = 0
    other: int = 0


class OverviewSummary(BaseModel):
    connectors: list[ConnectorCard]
    counts: list[CountCard]
    pipelines: PipelineCard
    kubernetes: KubernetesCard = KubernetesCard()
    alerts: AlertsCard = AlertsCard()
    automation: AutomationCard = AutomationCard()

    @property
    def demo(self) -> bool:
        return any(card.is_demo for card in self.connectors)


def overview(session: Session) -> OverviewSummary:
    connectors = [
        ConnectorCard(
            name=row.name,
            kind=row.kind,
            state=row.state,
            is_demo=row.is_demo,
            detail=row.detail or "",
            latency="" if row.latency_ms is None else f"{row.latency_ms:.0f} ms",
            checked_at=row.checked_at,
            last_error=row.last_error or "",
        )
        for row in list_connectors(session)
    ]
    counts = [
        CountCard(label=label, count=session.exec(select(func.count()).select_from(model)).one())
        for label, model in STORED_OBJECTS
    ]
    return OverviewSummary(
        connectors=connectors,
        counts=counts,
        pipelines=pipeline_card(session),
        kubernetes=kubernetes_card(session),
        alerts=alerts_card(session),
        automation=automation_card(session),
    )


def alerts_card(session: Session) -> AlertsCard:
    firing = alert_queries.firing_by_severity(session)
    critical, warning = firing.pop("critical", 0), firing.pop("warning", 0)
    return AlertsCard(critical=critical, warning=warning, other=sum(firing.values()))


def kubernetes_card(session: Session) -> KubernetesCard:
    clusters = kube_queries.clusters(session)
    return KubernetesCard(
        clusters_ok=sum(c.state == "ok" for c in clusters),
        clusters_total=len(clusters),
        nodes_ready=sum(c.nodes_ready for c in clusters),
        nodes_total=sum(c.nodes_total for c in clusters),
        pods_running=sum(c.pods_by_phase.get("Running", 0) for c in clusters),
        pods_total=sum(sum(c.pods_by_phase.values()) for c in clusters),
        open_problems=sum(c.open_problems for c in clusters),
    )


def pipeline_card(session: Session) -> PipelineCard:
    since = utcnow() - timedelta(hours=24)
    rows = session.exec(
        select(WorkflowRun.status, WorkflowRun.conclusion).where(WorkflowRun.created_at >= since)
    ).all()
    decided = [c for s, c in rows if c in ("success", "failure", "timed_out")]
    return PipelineCard(
        runs=len(rows),
        running=sum(s in ("queued", "in_progress", "waiting", "requested") for s, _ in rows),
        failed=sum(c in ("failure", "timed_out") for c in decided),
        success_rate=(decided.count("success") / len(decided)) if decided else None,
    )
