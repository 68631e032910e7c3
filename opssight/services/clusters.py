"""Kubernetes ingest: what a cluster's list/watch reported goes into the database, then the bus.

``apply`` writes one batch of changes in one transaction, idempotently (objects are upserted on
(cluster, uid); a relist deletes what it no longer lists), records restarts and opens/resolves
problems, commits, and then publishes ``kubernetes`` (keys: cluster, kinds) and, when problems
moved, ``kubernetes.problems``. A change of a cluster's health (or of its nodes) is recorded as
the ``kubernetes:<cluster>`` connector, which publishes ``connectors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, update
from sqlmodel import Session, SQLModel, col, select

from opssight.config import get_settings
from opssight.events import Event, get_bus
from opssight.integrations import kubernetes as kube
from opssight.integrations.kubernetes import Change, Health, KubeError, Listed, Usage, Watched
from opssight.models.base import utcnow
from opssight.models.kubernetes import (
    KubeCluster,
    KubeEvent,
    KubeNode,
    KubePod,
    KubeProblem,
    KubeRestart,
    KubeWorkload,
)
from opssight.services import connector_checks, kube_objects, kube_problems, source_config
from opssight.services.connectors import record_check
from opssight.services.kube_objects import Obj
from opssight.services.kube_problems import Found, Subject
from opssight.services.source_config import KubeConfig
from opssight.services.upsert import insert_new, upsert_many

TOPIC = "kubernetes"
PROBLEMS_TOPIC = "kubernetes.problems"
CONNECTOR_PREFIX = "kubernetes:"
KEYS = ("cluster", "uid")
# history tables are partitioned on a time column, which every unique key holds
EVENT_KEYS = (*KEYS, "created_at")
RESTART_KEYS = ("cluster", "pod_uid", "container", "restart_count")
TABLES: dict[str, type[SQLModel]] = {
    "Node": KubeNode,
    "Pod": KubePod,
    "Event": KubeEvent,
    **{kind: KubeWorkload for kind in kube_objects.WORKLOAD_KINDS},
}


def register(session: Session, name: str, server: str = "", *, is_demo: bool = False) -> None:
    """Make sure the cluster has its row (a new one is ``syncing``), and commit. Safe when
    several workers register the same cluster at once."""
    values = {"name": name, "server": server, "is_demo": is_demo}
    fresh = {"state": "syncing", "checked_at": utcnow(), "resource_versions": {}}
    insert_new(session, KubeCluster, {**values, **fresh}, keys=("name",))
    session.execute(update(KubeCluster).where(col(KubeCluster.name) == name).values(**values))
    session.commit()


def forget(session: Session, names: Iterable[str]) -> int:
    """Delete these clusters and everything stored about them; returns how many existed."""
    names = list(names)
    if not names:
        return 0
    existing = session.exec(select(KubeCluster.name).where(col(KubeCluster.name).in_(names))).all()
    for model in {*TABLES.values(), KubeProblem, KubeRestart, KubeCluster}:
        key = model.__table__.c["name" if model is KubeCluster else "cluster"]
        session.execute(delete(model).where(key.in_(names)))
    session.commit()
    if existing:
        get_bus().publish(Event(topic=TOPIC, keys={"cluster": "*"}))
    return len(existing)


def forget_demo(session: Session) -> int:
    """Drop the demo clusters (the demo source was turned off)."""
    demo = session.exec(select(KubeCluster.name).where(KubeCluster.is_demo)).all()
    return forget(session, demo)


@dataclass
class _Kind:
    """One kind's net effect within a batch."""

    upserts: dict[str, Obj] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    keep_only: set[str] | None = None  # after a relist: every stored uid not in it is gone
    version: str | None = None

    def listed(self, items: list[Obj], version: str) -> None:
        self.upserts = {kube_objects.uid(item): item for item in items}
        self.deletes = set()
        self.keep_only = set(self.upserts)
        self.version = version

    def watched(self, event: Watched) -> None:
        self.version = event.resource_version or self.version
        if event.type == "BOOKMARK":
            return
        key = kube_objects.uid(event.object)
        if event.type == "DELETED":
            self.upserts.pop(key, None)
            self.deletes.add(key)
            if self.keep_only is not None:
                self.keep_only.discard(key)
        else:
            self.upserts[key] = event.object
            self.deletes.discard(key)
            if self.keep_only is not None:
                self.keep_only.add(key)


@dataclass
class Applied:
    """What one batch changed."""

    kinds: set[str] = field(default_factory=set)
    problems: int = 0
    health: Health | None = None


def _values(kind: str, obj: Obj, cluster: str) -> dict[str, Any]:
    if kind == "Node":
        values = kube_objects.node_values(obj)
    elif kind == "Pod":
        values = kube_objects.pod_values(obj)
    elif kind == "Event":
        values = kube_objects.event_values(obj)
    else:
        values = kube_objects.workload_values({**obj, "kind": kind})
    return {"cluster": cluster, **values}


def _findings(kind: str, obj: Obj, now: datetime, pending_after: timedelta) -> list[Found]:
    if kind == "Pod":
        return kube_problems.pod_problems(obj, now, pending_after)
    if kind == "Node":
        return kube_problems.node_problems(obj, now)
    if kind in ("Deployment", "Job"):
        return kube_problems.workload_problems(obj, now)
    return []


def _subject(kind: str, obj: Obj) -> Subject:
    m = kube_objects.meta(obj)
    return Subject(kind, kube_objects.uid(obj), m.get("namespace"), m.get("name", ""))


def _restarts(cluster: str, pod: Obj, now: datetime) -> list[dict[str, Any]]:
    m = kube_objects.meta(pod)
    rows = []
    for status in kube_objects.statuses(pod):
        count = int(status.get("restartCount") or 0)
        if count <= 0:
            continue
        last = (status.get("lastState") or {}).get("terminated") or {}
        rows.append(
            {
                "cluster": cluster,
                "pod_uid": kube_objects.uid(pod),
                "container": status.get("name", ""),
                "restart_count": count,
                "namespace": m.get("namespace", ""),
                "pod": m.get("name", ""),
                "reason": last.get("reason"),
                "exit_code": last.get("exitCode"),
                "at": kube_objects.timestamp(last.get("finishedAt")) or now,
            }
        )
    return rows


def _chunks(values: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    keys = sorted(set(values))
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _event_rows(
    session: Session, cluster: str, rows: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Events keep the creation time stored first (an Event without one is dated when first
    seen), so that an update finds its row."""
    stored: dict[str, datetime] = {}
    for uids in _chunks(r["uid"] for r in rows):
        query = select(KubeEvent.uid, KubeEvent.created_at).where(
            KubeEvent.cluster == cluster, col(KubeEvent.uid).in_(uids)
        )
        stored.update(session.exec(query).all())
    return [{**r, "created_at": stored.get(r["uid"]) or r["created_at"] or now} for r in rows]


def _new_restarts(
    session: Session, cluster: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The restarts not stored yet (one dated ``now`` for want of a termination time would
    otherwise be added again at each relist)."""
    keys = [col(getattr(KubeRestart, k)) for k in RESTART_KEYS]
    stored: set[tuple[Any, ...]] = set()
    for pods in _chunks(r["pod_uid"] for r in rows):
        query = select(*keys).where(
            KubeRestart.cluster == cluster, col(KubeRestart.pod_uid).in_(pods)
        )
        stored.update(tuple(row) for row in session.exec(query).all())
    return [r for r in rows if tuple(r[k] for k in RESTART_KEYS) not in stored]


def _stored_uids(session: Session, cluster: str, kind: str) -> set[str]:
    model = TABLES[kind]
    query = select(model.uid).where(model.cluster == cluster)
    if model is KubeWorkload:
        query = query.where(KubeWorkload.kind == kind)
    return set(session.exec(query).all())


def _delete(session: Session, cluster: str, kind: str, uids: set[str]) -> None:
    model = TABLES[kind]
    for keys in _chunks(uids):
        session.execute(delete(model).where(model.cluster == cluster, col(model.uid).in_(keys)))


def _write_kind(
    session: Session, cluster: str, kind: str, net: _Kind, now: datetime, pending_after: timedelta
) -> tuple[dict[Subject, list[Found]], set[str]]:
    """Write one kind's net changes; returns the problem findings and the uids gone."""
    gone = set(net.deletes)
    if net.keep_only is not None:
        gone |= _stored_uids(session, cluster, kind) - net.keep_only
    if gone:
        _delete(session, cluster, kind, gone)
    objects = list(net.upserts.values())
    rows = [_values(kind, obj, cluster) for obj in objects]
    if kind == "Event":
        upsert_many(session, KubeEvent, _event_rows(session, cluster, rows, now), keys=EVENT_KEYS)
    else:
        upsert_many(session, TABLES[kind], rows, keys=KEYS)
    if kind == "Pod":
        restarts = [row for obj in objects for row in _restarts(cluster, obj, now)]
        new = _new_restarts(session, cluster, restarts)
        upsert_many(session, KubeRestart, new, keys=(*RESTART_KEYS, "at"), update=False)
    findings = {
        _subject(kind, obj): _findings(kind, obj, now, pending_after)
        for obj in objects
        if kind in ("Pod", "Node", "Deployment", "Job")
    }
    return findings, gone


def _write_usage(session: Session, cluster: str, usage: Usage) -> None:
    """Usage columns from metrics.k8s.io; cleared (NULL) when it is not served."""
    for model, items in ((KubeNode, usage.nodes), (KubePod, usage.pods)):
        table = model.__table__
        session.execute(
            update(table)
            .where(table.c.cluster == cluster)
            .values(cpu_usage_m=None, memory_usage_b=None)
        )
        if not items:
            continue
        rows = []
        for item in items:
            m = kube_objects.meta(item)
            parts = [
                item.get("usage") or {},
                *(c.get("usage") or {} for c in item.get("containers") or []),
            ]
            rows.append(
                {
                    "b_name": m.get("name", ""),
                    "b_namespace": m.get("namespace", ""),
                    "b_cpu": sum(kube_objects.millicores(p.get("cpu")) for p in parts),
                    "b_memory": sum(kube_objects.quantity(p.get("memory")) for p in parts),
                }
            )
        where = [table.c.cluster == cluster, table.c.name == bindparam("b_name")]
        if model is KubePod:
            where.append(table.c.namespace == bindparam("b_namespace"))
        statement = (
            update(table)
            .where(*where)
            .values(cpu_usage_m=bindparam("b_cpu"), memory_usage_b=bindparam("b_memory"))
        )
        session.connection().execute(statement, rows)


def apply(
    session: Session, cluster: str, changes: Sequence[Change], *, now: datetime | None = None
) -> Applied:
    """Write one batch of a cluster's changes in one transaction, then publish what moved."""
    now = now or utcnow()
    pending_after = timedelta(minutes=get_settings().kube_pending_minutes)
    row = session.get(KubeCluster, cluster)
    if row is None:
        raise LookupError(f"cluster {cluster!r} is not registered")
    nets: dict[str, _Kind] = {}
    usage: Usage | None = None
    applied = Applied()
    for change in changes:
        if isinstance(change, Listed):
            nets.setdefault(change.kind, _Kind()).listed(change.items, change.resource_version)
        elif isinstance(change, Watched):
            nets.setdefault(change.kind, _Kind()).watched(change)
        elif isinstance(change, Usage):
            usage = change
        else:
            applied.health = change
    findings: dict[Subject, list[Found]] = {}
    gone: set[str] = set()
    versions = dict(row.resource_versions)
    for kind, net in nets.items():
        found, removed = _write_kind(session, cluster, kind, net, now, pending_after)
        findings.update(found)
        gone |= removed
        if net.upserts or removed:
            applied.kinds.add(kind)
        if net.version:
            versions[kind] = net.version
    if usage is not None:
        _write_usage(session, cluster, usage)
        applied.kinds.add("Usage")
    applied.problems = kube_problems.reconcile(session, cluster, findings, gone, now)
    row.resource_versions = versions
    if applied.health is not None:
        row.state, row.error = applied.health.state, applied.health.error
    row.checked_at = now
    session.add(row)
    session.commit()
    _announce(session, row, applied)
    return applied


def recheck(session: Session, cluster: str, *, now: datetime | None = None) -> int:
    """Re-evaluate the pods still Pending (being unschedulable becomes a problem only after
    ``OPSSIGHT_KUBE_PENDING_MINUTES``) and re-record the cluster's connector (its last check);
    returns how many problems opened or resolved."""
    now = now or utcnow()
    pending_after = timedelta(minutes=get_settings().kube_pending_minutes)
    pods = session.exec(
        select(KubePod.raw).where(KubePod.cluster == cluster, KubePod.phase == "Pending")
    ).all()
    findings = {_subject("Pod", pod): _findings("Pod", pod, now, pending_after) for pod in pods}
    changed = kube_problems.reconcile(session, cluster, findings, (), now)
    session.commit()
    if changed:
        get_bus().publish(Event(topic=PROBLEMS_TOPIC, keys={"cluster": cluster}))
    row = session.get(KubeCluster, cluster)
    if row is not None:
        record_connector(session, row)
    return changed


def _announce(session: Session, row: KubeCluster, applied: Applied) -> None:
    bus = get_bus()
    if applied.kinds:
        kinds = ",".join(sorted(applied.kinds))
        bus.publish(Event(topic=TOPIC, keys={"cluster": row.name, "kinds": kinds}))
    if applied.problems:
        bus.publish(Event(topic=PROBLEMS_TOPIC, keys={"cluster": row.name}))
    if applied.health is not None or "Node" in applied.kinds:
        record_connector(session, row)


def record_connector(session: Session, row: KubeCluster) -> None:
    """The cluster's ``kubernetes:<name>`` connector: its state, error and nodes Ready."""
    ready, total = session.exec(
        select(func.count().filter(col(KubeNode.ready)), func.count()).where(
            KubeNode.cluster == row.name
        )
    ).one()
    check = connector_checks.kubernetes_check(
        CONNECTOR_PREFIX + row.name,
        state=row.state,
        error=row.error,
        nodes_ready=ready,
        nodes_total=total,
        is_demo=row.is_demo,
    )
    record_check(session, check)


def pod_logs(
    session: Session,
    cluster: str,
    namespace: str,
    pod: str,
    container: str | None = None,
    tail_lines: int = 200,
    previous: bool = False,
) -> str:
    """A pod container's log from its cluster (the views' log panel). Raises ``KubeError`` with
    the message to show: a 403 says the service account may not read that pod's logs."""
    row = session.get(KubeCluster, cluster)
    if row is not None and row.is_demo:
        raise KubeError("error", "the demo cluster has no logs: it replays recorded objects")
    config = source_config.current().kubernetes
    found = configured(config) if config else []
    target = next((c for c in found if c.name == cluster), None)
    if target is None:
        raise KubeError("error", f"no cluster named {cluster!r} is configured")
    return kube.pod_logs(target, namespace, pod, container, tail_lines, previous)


def configured(config: KubeConfig) -> list[kube.Cluster]:
    """The kubeconfig's clusters (its chosen contexts) and, when asked, the pod's own."""
    return kube.load_clusters(
        config.kubeconfig,
        in_cluster=config.in_cluster,
        contexts=config.contexts,
        request_timeout=get_settings().kube_request_timeout_seconds,
    )
