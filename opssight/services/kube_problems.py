"""Kubernetes problems: found from the objects' own statuses, kept as an open/resolved history.

Detection is pure (an object and the time in, the problems it shows out); ``reconcile`` opens
the newly found ones and resolves those that went away, one open row per object and kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import insert
from sqlmodel import Session, col, select

from opssight.models.kubernetes import KubeProblem
from opssight.schemas.kubernetes import ProblemKind
from opssight.services.kube_objects import Obj, condition, meta, statuses, timestamp

FEW = 500
IMAGE_PULL = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}


class Found(NamedTuple):
    kind: ProblemKind
    reason: str
    message: str
    since: datetime
    image: str | None = None


def _images(pod: Obj) -> dict[str, str]:
    spec = pod.get("spec") or {}
    return {
        c.get("name", ""): c.get("image", "")
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    }


def pod_problems(pod: Obj, now: datetime, pending_after: timedelta) -> list[Found]:
    """CrashLoopBackOff, image pulls failing, OOMKilled (now or at the last termination), and
    Pending unschedulable for longer than ``pending_after``."""
    found: dict[str, Found] = {}
    image_of = _images(pod)
    ready = condition(pod, "Ready") or {}
    not_ready_since = timestamp(ready.get("lastTransitionTime")) or now
    for status in statuses(pod):
        name = status.get("name", "")
        image = image_of.get(name) or status.get("image")
        waiting = (status.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        last = (status.get("lastState") or {}).get("terminated") or {}
        terminated = (status.get("state") or {}).get("terminated") or {}
        if reason == "CrashLoopBackOff":
            since = timestamp(last.get("finishedAt")) or not_ready_since
            message = waiting.get("message") or f"container {name} keeps crashing"
            found.setdefault(reason, Found("CrashLoopBackOff", reason, message, since, image))
        elif reason in IMAGE_PULL:
            message = waiting.get("message") or f"container {name} cannot pull {image}"
            found.setdefault(
                "ImagePullBackOff",
                Found("ImagePullBackOff", reason, message, not_ready_since, image),
            )
        for ended in (terminated, last):
            if ended.get("reason") == "OOMKilled":
                since = timestamp(ended.get("finishedAt")) or now
                message = (
                    f"container {name} was killed out of memory (exit code {ended.get('exitCode')})"
                )
                found.setdefault(
                    "OOMKilled", Found("OOMKilled", "OOMKilled", message, since, image)
                )
    status = pod.get("status") or {}
    scheduled = condition(pod, "PodScheduled") or {}
    if (
        status.get("phase") == "Pending"
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
    ):
        since = timestamp(scheduled.get("lastTransitionTime")) or now
        if now - since >= pending_after:
            message = scheduled.get("message") or "no node can run this pod"
            image = next(iter(image_of.values()), None)
            found["Unschedulable"] = Found("Unschedulable", "Unschedulable", message, since, image)
    return list(found.values())


def node_problems(node: Obj, now: datetime) -> list[Found]:
    """NotReady (or Unknown: the kubelet stopped reporting)."""
    ready = condition(node, "Ready")
    if ready is None or ready.get("status") == "True":
        return []
    since = timestamp(ready.get("lastTransitionTime")) or now
    reason = ready.get("reason") or "NotReady"
    message = ready.get("message") or f"node {meta(node).get('name')} is not Ready"
    return [Found("NodeNotReady", reason, message, since)]


def workload_problems(obj: Obj, now: datetime) -> list[Found]:
    """Deployments past their progress deadline; Jobs failed."""
    kind = obj.get("kind")
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    image = next((c.get("image") for c in template.get("containers") or []), None)
    if kind == "Deployment":
        progressing = condition(obj, "Progressing") or {}
        if progressing.get("status") == "False" and (
            progressing.get("reason") == "ProgressDeadlineExceeded"
        ):
            since = timestamp(progressing.get("lastTransitionTime")) or now
            message = progressing.get("message") or "rollout passed its progress deadline"
            return [Found("RolloutStuck", "ProgressDeadlineExceeded", message, since, image)]
    if kind == "Job":
        failed = condition(obj, "Failed") or {}
        if failed.get("status") == "True":
            since = timestamp(failed.get("lastTransitionTime")) or now
            reason = failed.get("reason") or "Failed"
            return [Found("JobFailed", reason, failed.get("message") or reason, since, image)]
    return []


class Subject(NamedTuple):
    """The object a set of findings is about."""

    object_kind: str
    uid: str
    namespace: str | None
    name: str


def reconcile(
    session: Session,
    cluster: str,
    findings: Mapping[Subject, list[Found]],
    gone: Iterable[str],
    now: datetime,
) -> int:
    """Open what is newly found, update what is still open, resolve what went away (objects
    re-read without a finding, and the deleted uids in ``gone``); returns how many rows opened
    or resolved. The caller commits."""
    uids = {subject.uid for subject in findings} | set(gone)
    if not uids:
        return 0
    query = select(KubeProblem).where(
        KubeProblem.cluster == cluster, col(KubeProblem.resolved_at).is_(None)
    )
    if len(uids) <= FEW:  # a watch batch: just these objects' rows (a relist reads them all)
        query = query.where(col(KubeProblem.object_uid).in_(uids))
    open_rows = session.exec(query).all()
    open_by_key = {(row.object_uid, row.kind): row for row in open_rows if row.object_uid in uids}
    new_rows: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for subject, found in findings.items():
        for problem in found:
            key = (subject.uid, problem.kind)
            seen.add(key)
            values = {
                "reason": problem.reason,
                "message": problem.message[:4000],
                "image": problem.image,
            }
            row = open_by_key.get(key)
            if row is None:
                new_rows.append(
                    {
                        "cluster": cluster,
                        "kind": problem.kind,
                        "object_kind": subject.object_kind,
                        "object_uid": subject.uid,
                        "namespace": subject.namespace,
                        "name": subject.name,
                        "since": problem.since,
                        "resolved_at": None,
                        **values,
                    }
                )
            else:
                row.sqlmodel_update(values)  # written only where a value changed
                session.add(row)
    if new_rows:
        session.execute(insert(KubeProblem), new_rows)
    resolved = [row for key, row in open_by_key.items() if key not in seen]
    for row in resolved:
        row.resolved_at = now
        session.add(row)
    return len(new_rows) + len(resolved)
