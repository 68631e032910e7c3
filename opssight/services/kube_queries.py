"""What the Kubernetes views read, from the database only (``schemas.kubernetes`` shapes).

Tables are paged on the server and filtered by cluster, namespace and a search over names,
images, nodes and reasons.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, true, tuple_, union
from sqlmodel import Session, SQLModel, col, select

from opssight.models.dora import DoraDeployment
from opssight.models.github import Repository
from opssight.models.kubernetes import (
    KubeCluster,
    KubeEvent,
    KubeNode,
    KubePod,
    KubeProblem,
    KubeWorkload,
)
from opssight.schemas.kubernetes import (
    ClusterSummary,
    EventRow,
    KubeFilter,
    NodeRow,
    Page,
    PodDetail,
    PodRow,
    ProblemRow,
    WorkloadKind,
    WorkloadRow,
)
from opssight.services.kube_objects import containers
from opssight.services.teams import owned_namespaces

ROW = TypeVar("ROW")
SHOWN_WORKLOADS: tuple[WorkloadKind, ...] = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
)
DONE_PHASES = ("Succeeded", "Failed")
DETAIL_EVENTS = 50
PROBLEMS_SHOWN = 100
SHA = re.compile(r"^[0-9a-f]{7,40}$")


def _scoped(query: Select, model: type[SQLModel], f: KubeFilter) -> Select:
    if f.cluster:
        query = query.where(model.cluster == f.cluster)
    if f.namespace:
        query = query.where(model.namespace == f.namespace)
    if f.team:
        query = query.where(tuple_(model.cluster, model.namespace).in_(owned_namespaces(f.team)))
    return query


def _search(query: Select, term: str, *columns: Any) -> Select:
    term = term.strip()
    if not term:
        return query
    return query.where(or_(*(col(c).icontains(term, autoescape=True) for c in columns)))


def _page(
    session: Session, query: Select, f: KubeFilter, to_row: Callable[[Any], ROW]
) -> Page[ROW]:
    counted = query.order_by(None).subquery()  # an ordered subquery would be sorted to count
    total = session.exec(select(func.count()).select_from(counted)).one()
    rows = session.exec(query.offset((f.page - 1) * f.page_size).limit(f.page_size)).all()
    return Page[ROW](
        rows=[to_row(r) for r in rows], total=total, page=f.page, page_size=f.page_size
    )


# ---------- clusters, namespaces, nodes ----------


def clusters(session: Session) -> list[ClusterSummary]:
    """Every cluster with its nodes, pods by phase, requests vs allocatable, usage, problems."""
    nodes = {
        name: (ready or 0, total, cpu or 0, memory or 0, cpu_used, memory_used)
        for name, ready, total, cpu, memory, cpu_used, memory_used in session.exec(
            select(
                KubeNode.cluster,
                func.count().filter(col(KubeNode.ready)),
                func.count(),
                func.sum(KubeNode.cpu_allocatable_m),
                func.sum(KubeNode.memory_allocatable_b),
                func.sum(KubeNode.cpu_usage_m),
                func.sum(KubeNode.memory_usage_b),
            ).group_by(KubeNode.cluster)
        ).all()
    }
    phases: dict[str, dict[str, int]] = defaultdict(dict)
    requested: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, phase, count, cpu, memory in session.exec(
        select(
            KubePod.cluster,
            KubePod.phase,
            func.count(),
            func.sum(KubePod.cpu_requested_m),
            func.sum(KubePod.memory_requested_b),
        ).group_by(KubePod.cluster, KubePod.phase)
    ).all():
        phases[name][phase] = count
        if phase not in DONE_PHASES:
            requested[name][0] += cpu or 0
            requested[name][1] += memory or 0
    problems = dict(
        session.exec(
            select(KubeProblem.cluster, func.count())
            .where(col(KubeProblem.resolved_at).is_(None))
            .group_by(KubeProblem.cluster)
        ).all()
    )
    summaries = []
    for row in session.exec(select(KubeCluster).order_by(KubeCluster.name)).all():
        ready, total, cpu, memory, cpu_used, memory_used = nodes.get(
            row.name, (0, 0, 0, 0, None, None)
        )
        summaries.append(
            ClusterSummary(
                name=row.name,
                server=row.server,
                state=row.state,
                error=row.error,
                checked_at=row.checked_at,
                is_demo=row.is_demo,
                nodes_ready=ready,
                nodes_total=total,
                pods_by_phase=phases.get(row.name, {}),
                cpu_requested_m=requested[row.name][0],
                cpu_allocatable_m=cpu,
                memory_requested_b=requested[row.name][1],
                memory_allocatable_b=memory,
                cpu_usage_m=cpu_used,
                memory_usage_b=memory_used,
                open_problems=problems.get(row.name, 0),
            )
        )
    return summaries


def cluster_namespaces(session: Session, cluster: str = "") -> list[tuple[str, str]]:
    """(cluster, namespace) of the namespaces that hold pods or workloads."""
    queries = [
        select(model.cluster, model.namespace).where(
            model.cluster == cluster if cluster else true()
        )
        for model in (KubePod, KubeWorkload)
    ]
    return sorted({(c, n) for c, n in session.exec(union(*queries)).all() if n})


def namespaces(session: Session, cluster: str = "") -> list[str]:
    """Namespaces that hold pods or workloads (of one cluster, or of all)."""
    return sorted({n for _, n in cluster_namespaces(session, cluster)})


def list_nodes(session: Session, cluster: str = "") -> list[NodeRow]:
    pods = select(KubePod.cluster, KubePod.node, func.count().label("n")).where(
        col(KubePod.phase).not_in(DONE_PHASES)
    )
    counts = {
        (c, node): n for c, node, n in session.exec(pods.group_by(KubePod.cluster, KubePod.node))
    }
    query = select(KubeNode).order_by(KubeNode.cluster, KubeNode.name)
    if cluster:
        query = query.where(KubeNode.cluster == cluster)
    return [
        NodeRow(
            cluster=n.cluster,
            name=n.name,
            ready=n.ready,
            roles=n.roles,
            version=n.version,
            cpu_allocatable_m=n.cpu_allocatable_m,
            memory_allocatable_b=n.memory_allocatable_b,
            cpu_usage_m=n.cpu_usage_m,
            memory_usage_b=n.memory_usage_b,
            pods=counts.get((n.cluster, n.name), 0),
            created_at=n.created_at,
        )
        for n in session.exec(query).all()
    ]


# ---------- workloads, pods, events ----------


def _workload_row(w: KubeWorkload) -> WorkloadRow:
    return WorkloadRow(
        cluster=w.cluster,
        namespace=w.namespace,
        kind=w.kind,
        name=w.name,
        desired=w.desired,
        ready=w.ready,
        updated=w.updated,
        available=w.available,
        rollout=w.rollout,
        images=w.images.split(),
        created_at=w.created_at,
    )


def list_workloads(session: Session, f: KubeFilter) -> Page[WorkloadRow]:
    query = select(KubeWorkload).where(col(KubeWorkload.kind).in_(SHOWN_WORKLOADS))
    query = _search(
        _scoped(query, KubeWorkload, f), f.search, KubeWorkload.name, KubeWorkload.images
    )
    query = query.order_by(
        KubeWorkload.cluster, KubeWorkload.namespace, KubeWorkload.kind, KubeWorkload.name
    )
    return _page(session, query, f, _workload_row)


def _pod_row(p: KubePod) -> PodRow:
    return PodRow(
        cluster=p.cluster,
        namespace=p.namespace,
        name=p.name,
        phase=p.phase,
        reason=p.reason,
        restarts=p.restarts,
        node=p.node,
        ready=f"{p.ready_containers}/{p.total_containers}",
        created_at=p.created_at,
    )


POD_COLUMNS = (
    KubePod.cluster,
    KubePod.uid,
    KubePod.namespace,
    KubePod.name,
    KubePod.phase,
    KubePod.reason,
    KubePod.restarts,
    KubePod.node,
    KubePod.ready_containers,
    KubePod.total_containers,
    KubePod.created_at,
)


def list_pods(session: Session, f: KubeFilter) -> Page[PodRow]:
    query = _scoped(select(*POD_COLUMNS), KubePod, f)
    query = _search(query, f.search, KubePod.name, KubePod.images, KubePod.node, KubePod.reason)
    query = query.order_by(KubePod.cluster, KubePod.namespace, KubePod.name, KubePod.uid)
    return _page(session, query, f, _pod_row)


def _event_row(e: KubeEvent) -> EventRow:
    return EventRow(
        cluster=e.cluster,
        namespace=e.namespace,
        kind=e.object_kind,
        name=e.object_name,
        type=e.type,
        reason=e.reason,
        message=e.message,
        count=e.count,
        last_seen=e.last_seen,
    )


def list_events(session: Session, f: KubeFilter, warnings_only: bool = True) -> Page[EventRow]:
    query = _scoped(select(KubeEvent), KubeEvent, f)
    if warnings_only:
        query = query.where(KubeEvent.type == "Warning")
    query = _search(query, f.search, KubeEvent.object_name, KubeEvent.reason, KubeEvent.message)
    query = query.order_by(col(KubeEvent.last_seen).desc().nulls_last(), KubeEvent.uid)
    return _page(session, query, f, _event_row)


# ---------- problems ----------


def _image_repository(image: str) -> tuple[str, str]:
    """(``owner/name`` path without the registry host, tag) of an image reference."""
    name = image.split("@", 1)[0]
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts).lower(), tag.lower()


def last_deploy(session: Session, image: str | None) -> tuple[str, Any] | None:
    """The latest counted deployment (DORA's) whose commit the image's tag names, else of the
    GitHub repository whose ``owner/name`` the image path is; ``None`` when neither matches."""
    if not image:
        return None
    path, tag = _image_repository(image)
    query = (
        select(Repository.full_name, DoraDeployment.sha, DoraDeployment.at)
        .join(Repository, col(Repository.id) == DoraDeployment.repo_id)
        .order_by(col(DoraDeployment.at).desc())
        .limit(1)
    )
    if SHA.match(tag):
        found = session.exec(query.where(col(DoraDeployment.sha).startswith(tag))).first()
        if found:
            return f"{found[0]}@{found[1][:7]}", found[2]
    if path.count("/") == 1:
        found = session.exec(query.where(func.lower(Repository.full_name) == path)).first()
        if found:
            return f"{found[0]}@{found[1][:7]}", found[2]
    return None


def problems(
    session: Session,
    cluster: str = "",
    include_resolved: bool = False,
    team: str = "",
    limit: int = PROBLEMS_SHOWN,
) -> list[ProblemRow]:
    """Open problems (and resolved ones when asked), open first, newest first, at most
    ``limit`` (the clusters' summaries count them all); with ``team``, only those in the team's
    namespaces."""
    query = _scoped(select(KubeProblem), KubeProblem, KubeFilter(cluster=cluster, team=team))
    if not include_resolved:
        query = query.where(col(KubeProblem.resolved_at).is_(None))
    query = query.order_by(
        col(KubeProblem.resolved_at).is_not(None), col(KubeProblem.since).desc(), KubeProblem.id
    ).limit(limit)
    deploys: dict[str | None, tuple[str, Any] | None] = {}
    rows = []
    for p in session.exec(query).all():
        if p.image not in deploys:
            deploys[p.image] = last_deploy(session, p.image)
        deploy = deploys[p.image]
        rows.append(
            ProblemRow(
                id=p.id,
                cluster=p.cluster,
                kind=p.kind,
                object_kind=p.object_kind,
                namespace=p.namespace,
                name=p.name,
                reason=p.reason,
                message=p.message,
                since=p.since,
                resolved_at=p.resolved_at,
                last_deploy=deploy[0] if deploy else None,
                last_deploy_at=deploy[1] if deploy else None,
            )
        )
    return rows


# ---------- pod detail ----------


def _owner(session: Session, pod: KubePod) -> str | None:
    """``Kind/name`` of the pod's workload, one level up when its owner is itself owned
    (ReplicaSet → Deployment, Job → CronJob)."""
    if not pod.owner_kind:
        return None
    owner = session.exec(
        select(KubeWorkload.owner_kind, KubeWorkload.owner_name).where(
            KubeWorkload.cluster == pod.cluster,
            KubeWorkload.namespace == pod.namespace,
            KubeWorkload.kind == pod.owner_kind,
            KubeWorkload.name == pod.owner_name,
        )
    ).first()
    if owner and owner[0]:
        return f"{owner[0]}/{owner[1]}"
    return f"{pod.owner_kind}/{pod.owner_name}"


def pod_detail(session: Session, cluster: str, namespace: str, name: str) -> PodDetail | None:
    """A pod's containers, labels, owning workload and its latest events."""
    pod = session.exec(
        select(KubePod)
        .where(KubePod.cluster == cluster, KubePod.namespace == namespace, KubePod.name == name)
        .order_by(col(KubePod.created_at).desc().nulls_last())
    ).first()
    if pod is None:
        return None
    events = session.exec(
        select(KubeEvent)
        .where(
            KubeEvent.cluster == cluster,
            KubeEvent.namespace == namespace,
            KubeEvent.object_kind == "Pod",
            KubeEvent.object_name == name,
        )
        .order_by(col(KubeEvent.last_seen).desc().nulls_last())
        .limit(DETAIL_EVENTS)
    ).all()
    labels = (pod.raw.get("metadata") or {}).get("labels") or {}
    return PodDetail(
        pod=_pod_row(pod),
        containers=containers(pod.raw),
        events=[_event_row(e) for e in events],
        labels={str(k): str(v) for k, v in labels.items()},
        owner=_owner(session, pod),
    )
