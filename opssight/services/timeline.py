"""The change timeline: deployments, pipeline failures, alerts firing and resolved, Kubernetes
problems and restarts, and Ansible runs of one service (or of everything), newest first, each
with a link to its detail page. ``around_alert`` / ``around_problem`` answer "what changed
before this?".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel, Field
from sqlalchemy import and_, false, or_
from sqlmodel import Session, col, select

from opssight.models import (
    Alert,
    AlertTransition,
    AutomationRun,
    AutomationRunGroup,
    AutomationRunHost,
    Deployment,
    DoraDeployment,
    KubeProblem,
    KubeRestart,
    Repository,
    WorkflowRun,
)
from opssight.services import service_map
from opssight.services.dora_links import RUN
from opssight.services.service_map import EVERYTHING, Scope

Kind = Literal["deployment", "pipeline", "alert", "kubernetes", "ansible"]
KINDS: dict[str, str] = {
    "deployment": "Deployments",
    "pipeline": "Pipeline failures",
    "alert": "Alerts",
    "kubernetes": "Pod problems and restarts",
    "ansible": "Ansible runs",
}
FAILED = ("failure", "timed_out", "startup_failure")
LIMIT = 300
BEFORE = timedelta(hours=12)  # "what changed before this?" looks this far back
AFTER = timedelta(minutes=30)  # and this far past the moment itself


class Entry(BaseModel):
    at: datetime
    kind: Kind
    title: str
    detail: str = ""
    tone: str = "unknown"  # ok, degraded, down, unknown (the status badge's colors)
    link: str
    source: str = ""
    key: str
    subject: str = ""
    """The alert or problem it is about (``alert:<id>``, ``problem:<id>``)."""


class TimelineQuery(BaseModel):
    since: datetime
    until: datetime
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS))
    limit: int = Field(default=LIMIT, ge=1, le=1000)


class Around(BaseModel):
    """A moment (an alert or a problem) and what happened before it."""

    anchor: Entry
    services: list[str]
    entries: list[Entry]


def _link(path: str, **params: object) -> str:
    return f"{path}?{urlencode({k: v for k, v in params.items() if v not in (None, '')})}"


def _tone(state: str | None) -> str:
    if state in ("success", "ok", "Resolved"):
        return "ok"
    if state in (*FAILED, "error", "failed", "Firing", "unreachable"):
        return "down"
    return "degraded"


def _repo_ids(session: Session, scope: Scope) -> list[int] | None:
    """The scope's repositories' ids (None: every repository)."""
    if scope.everything:
        return None
    names = list(scope.repositories)
    return list(session.exec(select(Repository.id).where(col(Repository.full_name).in_(names))))


def deployments(session: Session, scope: Scope, q: TimelineQuery) -> list[Entry]:
    repo_ids = _repo_ids(session, scope)
    if repo_ids == []:
        return []
    at = Deployment.state_at
    query = (
        select(Deployment, Repository.full_name)
        .join(Repository, Repository.id == Deployment.repo_id)
        .where(col(at).is_not(None), at >= q.since, at <= q.until)
    )
    runs = (
        select(WorkflowRun, Repository.full_name, DoraDeployment.at)
        .join(DoraDeployment, and_(DoraDeployment.kind == RUN, DoraDeployment.ref_id == WorkflowRun.run_id))
        .join(Repository, Repository.id == WorkflowRun.repo_id)
        .where(DoraDeployment.at >= q.since, DoraDeployment.at <= q.until,
               WorkflowRun.conclusion == "success")
    )  # fmt: skip
    if repo_ids is not None:
        query = query.where(col(Deployment.repo_id).in_(repo_ids))
        runs = runs.where(col(WorkflowRun.repo_id).in_(repo_ids))
    entries = [
        Entry(
            at=d.state_at,
            kind="deployment",
            title=f"Deploy {d.sha[:7]} to {d.environment}",
            detail=f"{repo} · {d.state or 'created'}" + (f" · by {d.creator}" if d.creator else ""),
            tone=_tone(d.state),
            link=_link("/pipelines", repo=repo, search=d.sha[:7]),
            source=repo,
            key=f"deployment:{d.id}",
        )
        for d, repo in session.exec(query.order_by(col(at).desc()).limit(q.limit))
    ]
    latest: dict[int, tuple[WorkflowRun, str, datetime]] = {}  # the attempt that deployed
    ordered = runs.order_by(col(DoraDeployment.at).desc(), col(WorkflowRun.attempt))
    for run, repo, at_ in session.exec(ordered.limit(q.limit * 3)):
        latest[run.run_id] = (run, repo, at_)
    entries += [
        Entry(
            at=at_,
            kind="deployment",
            title=f"{run.workflow_name} #{run.run_number} deployed {run.head_sha[:7]}",
            detail=f"{repo} · {run.head_branch or ''} · by {run.actor or '?'}",
            tone="ok",
            link=_link("/pipelines", run=run.run_id, attempt=run.attempt),
            source=repo,
            key=f"deploy-run:{run.run_id}:{run.attempt}",
        )
        for run, repo, at_ in latest.values()
    ]
    return entries


def pipeline_failures(session: Session, scope: Scope, q: TimelineQuery) -> list[Entry]:
    repo_ids = _repo_ids(session, scope)
    if repo_ids == []:
        return []
    done = WorkflowRun.completed_at
    query = (
        select(WorkflowRun, Repository.full_name)
        .join(Repository, Repository.id == WorkflowRun.repo_id)
        .where(col(WorkflowRun.conclusion).in_(FAILED), done >= q.since, done <= q.until)
    )
    if repo_ids is not None:
        query = query.where(col(WorkflowRun.repo_id).in_(repo_ids))
    return [
        Entry(
            at=run.completed_at,
            kind="pipeline",
            title=f"{run.workflow_name} #{run.run_number} {run.conclusion}",
            detail=f"{repo} · {run.head_branch or ''} · {run.head_sha[:7]}"
            + (f" · {run.title}" if run.title else ""),
            tone="down",
            link=_link("/pipelines", run=run.run_id, attempt=run.attempt),
            source=repo,
            key=f"run:{run.run_id}:{run.attempt}",
        )
        for run, repo in session.exec(query.order_by(col(done).desc()).limit(q.limit))
    ]


def alert_covered(scope: Scope, alert: Alert, service_names: set[str]) -> bool:
    labels = alert.labels or {}
    if scope.everything or labels.get("service") in service_names:
        return True
    namespace = labels.get("namespace")
    return bool(namespace) and scope.covers_pod(labels.get("cluster"), namespace, "")


def _alert_entry(alert: Alert, state: str, at: datetime, key: str) -> Entry:
    labels = alert.labels or {}
    where = "/".join(p for p in (labels.get("cluster"), labels.get("namespace")) if p)
    summary = (alert.annotations or {}).get("summary", "")
    return Entry(
        at=at,
        kind="alert",
        title=f"{alert.name} {state.lower()}",
        detail=" · ".join(p for p in (alert.severity, where, summary) if p),
        tone=_tone(state),
        link=_link("/alerts", search=alert.name),
        source=where or alert.source,
        key=key,
        subject=f"alert:{alert.id}",
    )


def alerts(
    session: Session, scope: Scope, q: TimelineQuery, service_names: set[str]
) -> list[Entry]:
    query = (
        select(AlertTransition, Alert)
        .join(Alert, Alert.id == AlertTransition.alert_id)
        .where(
            col(AlertTransition.to_state).in_(("Firing", "Resolved")),
            col(AlertTransition.actor).is_(None),
            AlertTransition.at >= q.since,
            AlertTransition.at <= q.until,
        )
        .order_by(col(AlertTransition.at).desc())
        .limit(q.limit * 5)  # the scope's labels are matched here, not in SQL
    )
    entries = [
        _alert_entry(alert, t.to_state, t.at, f"alert:{t.id}")
        for t, alert in session.exec(query)
        if alert_covered(scope, alert, service_names)
    ]
    return entries[: q.limit]


def _kube_scope(model: type[KubeProblem] | type[KubeRestart], name_column, scope: Scope):
    if scope.everything:
        return None
    clauses = []
    for cluster, namespace, workload in scope.kubernetes:
        parts = [model.namespace == namespace]
        if cluster != "*":
            parts.append(model.cluster == cluster)
        if workload:
            parts.append(or_(name_column == workload, col(name_column).startswith(f"{workload}-")))
        clauses.append(and_(*parts))
    return or_(*clauses) if clauses else false()


def _pod_link(cluster: str, namespace: str | None, kind: str, name: str) -> str:
    if kind != "Pod":
        return _link("/kubernetes", cluster=cluster)
    return _link("/kubernetes", cluster=cluster, namespace=namespace, pod=name)


def problem_entry(p: KubeProblem, resolved: bool = False) -> Entry:
    where = "/".join(x for x in (p.cluster, p.namespace) if x)
    return Entry(
        at=p.resolved_at if resolved and p.resolved_at else p.since,
        kind="kubernetes",
        title=f"{p.kind} {'resolved' if resolved else 'on'} {p.object_kind}/{p.name}",
        detail=f"{where} · {p.reason}: {p.message}"[:500],
        tone="ok" if resolved else "down",
        link=_pod_link(p.cluster, p.namespace, p.object_kind, p.name),
        source=where,
        key=f"problem:{p.id}:{'resolved' if resolved else 'opened'}",
        subject=f"problem:{p.id}",
    )


def kubernetes(session: Session, scope: Scope, q: TimelineQuery) -> list[Entry]:
    condition = _kube_scope(KubeProblem, KubeProblem.name, scope)
    opened = select(KubeProblem).where(KubeProblem.since >= q.since, KubeProblem.since <= q.until)
    resolved = select(KubeProblem).where(
        col(KubeProblem.resolved_at).is_not(None),
        KubeProblem.resolved_at >= q.since,
        KubeProblem.resolved_at <= q.until,
    )
    restarts = select(KubeRestart).where(KubeRestart.at >= q.since, KubeRestart.at <= q.until)
    restart_scope = _kube_scope(KubeRestart, KubeRestart.pod, scope)
    if condition is not None:
        opened, resolved = opened.where(condition), resolved.where(condition)
        restarts = restarts.where(restart_scope)
    entries = [
        problem_entry(p)
        for p in session.exec(opened.order_by(col(KubeProblem.since).desc()).limit(q.limit))
    ]
    entries += [
        problem_entry(p, resolved=True)
        for p in session.exec(resolved.order_by(col(KubeProblem.resolved_at).desc()).limit(q.limit))
    ]
    for r in session.exec(restarts.order_by(col(KubeRestart.at).desc()).limit(q.limit)):
        why = f"{r.reason} (exit code {r.exit_code})" if r.reason else "restarted"
        entries.append(
            Entry(
                at=r.at,
                kind="kubernetes",
                title=f"Pod {r.pod} restarted ({r.container}, #{r.restart_count})",
                detail=f"{r.cluster}/{r.namespace} · {why}",
                tone="degraded",
                link=_pod_link(r.cluster, r.namespace, "Pod", r.pod),
                source=f"{r.cluster}/{r.namespace}",
                key=f"restart:{r.cluster}:{r.pod_uid}:{r.container}:{r.restart_count}",
            )
        )
    return entries


def ansible_runs(session: Session, scope: Scope, q: TimelineQuery) -> list[Entry]:
    query = select(AutomationRun).where(
        AutomationRun.started_at >= q.since, AutomationRun.started_at <= q.until
    )
    if not scope.everything:
        touched = select(AutomationRunGroup.run_id).where(
            col(AutomationRunGroup.group).in_(list(scope.groups))
        )
        query = query.where(col(AutomationRun.id).in_(touched))
    runs = list(session.exec(query.order_by(col(AutomationRun.started_at).desc()).limit(q.limit)))
    hosts: dict[str, int] = {}
    for run_id in session.exec(
        select(AutomationRunHost.run_id).where(col(AutomationRunHost.run_id).in_([r.id for r in runs]))
    ):  # fmt: skip
        hosts[run_id] = hosts.get(run_id, 0) + 1
    return [
        Entry(
            at=run.started_at,
            kind="ansible",
            title=f"Ansible: {run.name or run.playbook}",
            detail=f"{run.status} · {hosts.get(run.id, 0)} host(s) · {run.user}@{run.controller}"
            + (" · check mode" if run.check_mode else ""),
            tone=_tone(run.status) if run.status != "running" else "degraded",
            link=_link("/automation", run=run.id),
            source=run.playbook,
            key=f"ansible:{run.id}",
        )
        for run in runs
    ]


def timeline(
    session: Session, q: TimelineQuery, scope: Scope = EVERYTHING, service_names: set[str] = frozenset()
) -> list[Entry]:  # fmt: skip
    """The entries of the chosen kinds in [since, until] within ``scope``, newest first."""
    found: list[Entry] = []
    if "deployment" in q.kinds:
        found += deployments(session, scope, q)
    if "pipeline" in q.kinds:
        found += pipeline_failures(session, scope, q)
    if "alert" in q.kinds:
        found += alerts(session, scope, q, set(service_names))
    if "kubernetes" in q.kinds:
        found += kubernetes(session, scope, q)
    if "ansible" in q.kinds:
        found += ansible_runs(session, scope, q)
    found.sort(key=lambda e: (e.at, e.key), reverse=True)
    return found[: q.limit]


def _around(
    session: Session, anchor: Entry, covering: list[tuple[object, Scope]], kinds: list[Kind]
) -> Around:
    names = sorted(str(getattr(service, "name", "")) for service, _ in covering)
    q = TimelineQuery(since=anchor.at - BEFORE, until=anchor.at + AFTER, kinds=kinds)
    scope = service_map.merged([scope for _, scope in covering])
    entries = [e for e in timeline(session, q, scope, set(names)) if e.subject != anchor.subject]
    return Around(anchor=anchor, services=names, entries=entries)


def around_alert(session: Session, alert_id: int, kinds: list[Kind] | None = None) -> Around | None:
    """What changed in the services of the alert's namespace (or ``service`` label) before it
    fired (or started pending); everything when no service covers it."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    at = alert.firing_at or alert.started_at or alert.updated_at
    labels = alert.labels or {}
    covering = service_map.services_covering(
        session,
        cluster=labels.get("cluster"),
        namespace=labels.get("namespace"),
        service_label=labels.get("service", ""),
    )
    anchor = _alert_entry(alert, alert.state, at, f"alert-anchor:{alert.id}")
    return _around(session, anchor, covering, kinds or list(KINDS))


def around_problem(
    session: Session, problem_id: int, kinds: list[Kind] | None = None
) -> Around | None:
    """What changed in the services of the problem's namespace (or workload) before it began."""
    problem = session.get(KubeProblem, problem_id)
    if problem is None:
        return None
    covering = service_map.services_covering(
        session, cluster=problem.cluster, namespace=problem.namespace, name=problem.name
    )
    return _around(session, problem_entry(problem), covering, kinds or list(KINDS))
