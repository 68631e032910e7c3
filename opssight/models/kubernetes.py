"""Kubernetes: the current objects of each cluster, and the history of problems and restarts.

Objects are keyed by (cluster, uid), the API server's own identity, so a replayed watch event or
a relist writes the same row again. ``raw`` keeps the object as the API server sent it (without
``metadata.managedFields``) where a later reading needs more than the columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


def _when(*, nullable: bool = True) -> Any:
    default = {} if nullable is False else {"default": None}
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable), **default)


def _json(default: type) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _big(nullable: bool = False) -> Any:
    return Field(default=None if nullable else 0, sa_column=Column(BigInteger, nullable=nullable))


class KubeCluster(SQLModel, table=True):
    """A kubeconfig context (or the in-cluster config), as its watcher last saw it."""

    __tablename__ = "kube_cluster"

    name: str = Field(primary_key=True, max_length=200)
    server: str = Field(default="", max_length=500)
    state: str = Field(default="syncing", max_length=20)
    error: str | None = Field(default=None, max_length=2000)
    is_demo: bool = False
    checked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    resource_versions: dict[str, str] = _json(dict)
    """The last resourceVersion seen per kind (list or watch), to resume watching."""


class KubeNode(SQLModel, table=True):
    __tablename__ = "kube_node"
    __table_args__ = (Index("ix_kube_node_cluster_name", "cluster", "name"),)

    cluster: str = Field(primary_key=True, max_length=200)
    uid: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=253)
    ready: bool = False
    ready_since: datetime | None = _when()
    """When the Ready condition last changed (the NotReady problem's since-when)."""
    roles: list[str] = _json(list)
    version: str = Field(default="", max_length=100)
    cpu_allocatable_m: int = _big()
    memory_allocatable_b: int = _big()
    cpu_usage_m: int | None = _big(nullable=True)
    memory_usage_b: int | None = _big(nullable=True)
    created_at: datetime | None = _when()
    resource_version: str = Field(default="", max_length=64)
    raw: dict[str, Any] = _json(dict)


class KubePod(SQLModel, table=True):
    __tablename__ = "kube_pod"
    __table_args__ = (
        Index("ix_kube_pod_cluster_ns_name", "cluster", "namespace", "name"),
        Index("ix_kube_pod_cluster_node", "cluster", "node"),
        Index("ix_kube_pod_owner", "cluster", "namespace", "owner_kind", "owner_name"),
    )

    cluster: str = Field(primary_key=True, max_length=200)
    uid: str = Field(primary_key=True, max_length=64)
    namespace: str = Field(max_length=253)
    name: str = Field(max_length=253)
    phase: str = Field(default="", max_length=30)
    reason: str | None = Field(default=None, max_length=100)
    restarts: int = 0
    node: str | None = Field(default=None, max_length=253)
    ready_containers: int = 0
    total_containers: int = 0
    images: str = Field(default="", max_length=4000)
    """Container images, space-separated (searched with LIKE)."""
    owner_kind: str | None = Field(default=None, max_length=50)
    owner_name: str | None = Field(default=None, max_length=253)
    cpu_requested_m: int = _big()
    memory_requested_b: int = _big()
    cpu_usage_m: int | None = _big(nullable=True)
    memory_usage_b: int | None = _big(nullable=True)
    created_at: datetime | None = _when()
    resource_version: str = Field(default="", max_length=64)
    raw: dict[str, Any] = _json(dict)


class KubeWorkload(SQLModel, table=True):
    """Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, and the ReplicaSets that tie pods
    to their Deployment (``kind`` tells them apart)."""

    __tablename__ = "kube_workload"
    __table_args__ = (Index("ix_kube_workload_cluster_kind_ns", "cluster", "kind", "namespace"),)

    cluster: str = Field(primary_key=True, max_length=200)
    uid: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=30)
    namespace: str = Field(max_length=253)
    name: str = Field(max_length=253)
    desired: int | None = None
    ready: int | None = None
    updated: int | None = None
    available: int | None = None
    rollout: str = Field(default="", max_length=30)
    images: str = Field(default="", max_length=4000)
    owner_kind: str | None = Field(default=None, max_length=50)
    owner_name: str | None = Field(default=None, max_length=253)
    created_at: datetime | None = _when()
    resource_version: str = Field(default="", max_length=64)
    raw: dict[str, Any] = _json(dict)


class KubeEvent(SQLModel, table=True):
    """An Event object. On PostgreSQL the table is partitioned by month on ``created_at``
    (``models.history``), the Event's creation time, which a later count or ``last_seen`` never
    moves."""

    __tablename__ = "kube_event"
    __table_args__ = (
        Index("ix_kube_event_cluster_last_seen", "cluster", "last_seen"),
        Index("ix_kube_event_object", "cluster", "namespace", "object_kind", "object_name"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    cluster: str = Field(primary_key=True, max_length=200)
    uid: str = Field(primary_key=True, max_length=64)
    namespace: str = Field(default="", max_length=253)
    object_kind: str = Field(default="", max_length=100)
    object_name: str = Field(default="", max_length=253)
    type: str = Field(default="Normal", max_length=20)
    reason: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=4000)
    count: int = 1
    last_seen: datetime | None = _when()
    resource_version: str = Field(default="", max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    """``metadata.creationTimestamp`` (else the first time the Event was seen)."""


class KubeProblem(SQLModel, table=True):
    """A problem found on an object, from when it was seen until it went away (the history)."""

    __tablename__ = "kube_problem"
    __table_args__ = (
        Index("ix_kube_problem_cluster_resolved", "cluster", "resolved_at"),
        # at most one open problem of a kind per object
        Index(
            "ux_kube_problem_open",
            "cluster",
            "object_uid",
            "kind",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    cluster: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    object_kind: str = Field(max_length=30)
    object_uid: str = Field(max_length=64)
    namespace: str | None = Field(default=None, max_length=253)
    name: str = Field(max_length=253)
    reason: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=4000)
    image: str | None = Field(default=None, max_length=500)
    """The image involved (a pod's failing container, a workload's first), for ``last_deploy``."""
    since: datetime = _when(nullable=False)
    resolved_at: datetime | None = _when()


class KubeRestart(SQLModel, table=True):
    """A container restart count seen on a pod, with its last termination (the timeline).
    On PostgreSQL the table is partitioned by month on ``at`` (``models.history``)."""

    __tablename__ = "kube_restart"
    __table_args__ = (
        Index("ix_kube_restart_cluster_at", "cluster", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    cluster: str = Field(primary_key=True, max_length=200)
    pod_uid: str = Field(primary_key=True, max_length=64)
    container: str = Field(primary_key=True, max_length=253)
    restart_count: int = Field(primary_key=True)
    namespace: str = Field(max_length=253)
    pod: str = Field(max_length=253)
    reason: str | None = Field(default=None, max_length=100)
    exit_code: int | None = None
    at: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
