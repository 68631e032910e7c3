"""Read Kubernetes objects (as the API server sends them) into the columns OpsSight stores.

Pure functions over plain dicts: quantities become millicores and bytes, statuses become the
figures ``kubectl`` shows (ready ``1/2``, restarts, the most telling reason, rollout status).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from opssight.schemas.kubernetes import ContainerRow

Obj = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")
ROLE_LABEL = "node-role.kubernetes.io/"


def timestamp(value: str | None) -> datetime | None:
    """An RFC 3339 time (``2021-04-27T10:13:58Z``, offsets, fractions) as UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)  # the same few quantities come back on every object
def quantity(value: str | int | float | None, scale: int = 1) -> int:
    """A resource quantity (``100m``, ``2``, ``162953844n``, ``300Mi``) times ``scale``; 0 when
    missing or malformed."""
    if value in (None, ""):
        return 0
    try:
        return int(Decimal(parse_quantity(value)) * scale)
    except (ValueError, InvalidOperation, TypeError):
        return 0


def millicores(value: str | int | float | None) -> int:
    return quantity(value, 1000)


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def uid(obj: Obj) -> str:
    """The object's uid; objects without one (the kubelet's own listings) fall back to their
    namespace/name, which is unique at any one time."""
    m = meta(obj)
    return m.get("uid") or f"{m.get('namespace', '')}/{m.get('name', '')}"


def strip(obj: Obj) -> Obj:
    """The object without ``metadata.managedFields`` (bookkeeping nobody reads)."""
    m = meta(obj)
    if "managedFields" not in m:
        return obj
    return {**obj, "metadata": {k: v for k, v in m.items() if k != "managedFields"}}


def controller(obj: Obj) -> tuple[str | None, str | None]:
    """The (kind, name) of the object's controlling owner."""
    owners = meta(obj).get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    return (owner.get("kind"), owner.get("name")) if owner else (None, None)


def condition(obj: Obj, kind: str) -> Obj | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _base(obj: Obj) -> dict[str, Any]:
    m = meta(obj)
    return {
        "uid": uid(obj),
        "name": m.get("name", ""),
        "created_at": timestamp(m.get("creationTimestamp")),
        "resource_version": m.get("resourceVersion") or "",
        "raw": strip(obj),
    }


# ---------- nodes ----------


def node_values(node: Obj) -> dict[str, Any]:
    status = node.get("status") or {}
    ready = condition(node, "Ready") or {}
    labels = meta(node).get("labels") or {}
    roles = sorted({k[len(ROLE_LABEL) :] for k in labels if k.startswith(ROLE_LABEL)} - {""})
    if not roles and labels.get("kubernetes.io/role"):
        roles = [labels["kubernetes.io/role"]]
    allocatable = status.get("allocatable") or {}
    return {
        **_base(node),
        "ready": ready.get("status") == "True",
        "ready_since": timestamp(ready.get("lastTransitionTime")),
        "roles": roles,
        "version": (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
        "cpu_allocatable_m": millicores(allocatable.get("cpu")),
        "memory_allocatable_b": quantity(allocatable.get("memory")),
    }


# ---------- pods ----------


def statuses(pod: Obj) -> list[Obj]:
    """Init then app container statuses."""
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def pod_reason(pod: Obj) -> str | None:
    """What ``kubectl get pods`` would show instead of the phase, if anything."""
    if meta(pod).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    if status.get("reason"):
        return status["reason"]
    for container in statuses(pod):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return waiting["reason"]
    for container in statuses(pod):
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("reason") and terminated["reason"] != "Completed":
            return terminated["reason"]
    scheduled = condition(pod, "PodScheduled") or {}
    if scheduled.get("status") == "False":
        return scheduled.get("reason")
    return None


def _requests(spec: Obj) -> tuple[int, int]:
    cpu = memory = 0
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += millicores(requests.get("cpu"))
        memory += quantity(requests.get("memory"))
    return cpu, memory


def images(spec: Obj) -> list[str]:
    return [c.get("image", "") for c in spec.get("containers") or []]


def pod_values(pod: Obj) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    app = status.get("containerStatuses") or []
    cpu, memory = _requests(spec)
    owner_kind, owner_name = controller(pod)
    return {
        **_base(pod),
        "namespace": meta(pod).get("namespace", ""),
        "phase": status.get("phase") or "Unknown",
        "reason": pod_reason(pod),
        "restarts": sum(int(c.get("restartCount") or 0) for c in statuses(pod)),
        "node": spec.get("nodeName"),
        "ready_containers": sum(bool(c.get("ready")) for c in app),
        "total_containers": len(spec.get("containers") or []),
        "images": " ".join(images(spec))[:4000],
        "owner_kind": owner_kind,
        "owner_name": owner_name,
        "cpu_requested_m": cpu,
        "memory_requested_b": memory,
    }


def containers(pod: Obj) -> list[ContainerRow]:
    """The pod's app containers with their state and last termination."""
    by_name = {c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []}
    rows = []
    for spec in (pod.get("spec") or {}).get("containers") or []:
        status = by_name.get(spec.get("name")) or {}
        state = status.get("state") or {}
        current = next(iter(state), "waiting")
        last = (status.get("lastState") or {}).get("terminated") or {}
        rows.append(
            ContainerRow(
                name=spec.get("name", ""),
                image=spec.get("image", ""),
                ready=bool(status.get("ready")),
                state=current,
                reason=(state.get(current) or {}).get("reason"),
                restarts=int(status.get("restartCount") or 0),
                last_termination_reason=last.get("reason"),
                last_termination_at=timestamp(last.get("finishedAt")),
            )
        )
    return rows


# ---------- workloads ----------


def _template_spec(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def _rollout(kind: str, obj: Obj, desired: int | None, counts: tuple[int, ...]) -> str:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Job":
        for outcome, label in (("Failed", "failed"), ("Complete", "complete")):
            if (condition(obj, outcome) or {}).get("status") == "True":
                return label
        return "suspended" if spec.get("suspend") else "active"
    if kind == "CronJob":
        return "suspended" if spec.get("suspend") else "active"
    if kind == "ReplicaSet":
        return ""
    if kind == "Deployment":
        if spec.get("paused"):
            return "paused"
        if (condition(obj, "Progressing") or {}).get("reason") == "ProgressDeadlineExceeded":
            return "stuck"
    if (status.get("observedGeneration") or 0) < (meta(obj).get("generation") or 0):
        return "progressing"
    return "complete" if all(n >= (desired or 0) for n in counts) else "progressing"


def workload_values(obj: Obj) -> dict[str, Any]:
    kind = obj.get("kind", "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired: int | None
    ready: int | None
    updated: int | None
    available: int | None
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        ready = status.get("numberReady", 0)
        updated = status.get("updatedNumberScheduled", 0)
        available = status.get("numberAvailable", 0)
    elif kind == "Job":
        desired = spec.get("completions", 1)
        ready, updated, available = status.get("succeeded", 0), None, None
    elif kind == "CronJob":
        desired, ready, updated, available = None, len(status.get("active") or []), None, None
    else:  # Deployment, StatefulSet, ReplicaSet (zero counts are omitted from the JSON)
        desired = spec.get("replicas", 1)
        ready = status.get("readyReplicas", 0)
        updated = status.get("updatedReplicas", 0) if kind != "ReplicaSet" else None
        # StatefulSets before Kubernetes 1.22 do not report availability at all
        known = (
            kind != "StatefulSet" or "availableReplicas" in status or "readyReplicas" not in status
        )
        available = status.get("availableReplicas", 0) if known else None
    counts = tuple(n for n in (ready, updated, available) if n is not None)
    owner_kind, owner_name = controller(obj)
    return {
        **_base(obj),
        "kind": kind,
        "namespace": meta(obj).get("namespace", ""),
        "desired": desired,
        "ready": ready,
        "updated": updated,
        "available": available,
        "rollout": _rollout(kind, obj, desired, counts),
        "images": " ".join(images(_template_spec(obj)))[:4000],
        "owner_kind": owner_kind,
        "owner_name": owner_name,
    }


# ---------- events ----------


def event_values(event: Obj) -> dict[str, Any]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    series = event.get("series") or {}
    m = meta(event)
    seen = (
        event.get("lastTimestamp")
        or series.get("lastObservedTime")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or m.get("creationTimestamp")
    )
    return {
        "uid": uid(event),
        "namespace": m.get("namespace") or involved.get("namespace") or "",
        "object_kind": involved.get("kind", ""),
        "object_name": involved.get("name", ""),
        "type": event.get("type") or "Normal",
        "reason": event.get("reason") or "",
        "message": (event.get("message") or event.get("note") or "")[:4000],
        "count": int(event.get("count") or series.get("count") or 1),
        "last_seen": timestamp(seen),
        "resource_version": m.get("resourceVersion") or "",
        "created_at": timestamp(
            m.get("creationTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
        ),
    }
