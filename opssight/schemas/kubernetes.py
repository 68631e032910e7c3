"""What the Kubernetes views read: the contract between ``services.kube_queries`` and the state.

Quantities are plain numbers: CPU in millicores, memory in bytes. Times are UTC-aware.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

ClusterState = Literal["ok", "unreachable", "unauthorized", "forbidden", "error", "syncing"]
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]
ProblemKind = Literal[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "OOMKilled",
    "Unschedulable",
    "NodeNotReady",
    "RolloutStuck",
    "JobFailed",
]
PAGE_SIZE = 50
T = TypeVar("T")


class KubeFilter(BaseModel):
    """A table's scope: one cluster (or all), one namespace (or all), one team's namespaces (or
    all), a search, a page."""

    cluster: str = ""
    namespace: str = ""
    team: str = ""  # a team's slug
    search: str = Field(default="", max_length=200)
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=200)


class ClusterSummary(BaseModel):
    name: str
    server: str
    state: ClusterState
    error: str | None = None
    checked_at: datetime | None = None
    is_demo: bool = False
    nodes_ready: int = 0
    nodes_total: int = 0
    pods_by_phase: dict[str, int] = {}
    cpu_requested_m: int = 0
    cpu_allocatable_m: int = 0
    memory_requested_b: int = 0
    memory_allocatable_b: int = 0
    cpu_usage_m: int | None = None  # from metrics.k8s.io, when the cluster serves it
    memory_usage_b: int | None = None
    open_problems: int = 0


class NodeRow(BaseModel):
    cluster: str
    name: str
    ready: bool
    roles: list[str]
    version: str
    cpu_allocatable_m: int
    memory_allocatable_b: int
    cpu_usage_m: int | None = None
    memory_usage_b: int | None = None
    pods: int
    created_at: datetime | None = None


class WorkloadRow(BaseModel):
    cluster: str
    namespace: str
    kind: WorkloadKind
    name: str
    desired: int | None
    ready: int | None
    updated: int | None
    available: int | None
    rollout: str  # "complete", "progressing", "stuck", "failed", "suspended", "active", ...
    images: list[str]
    created_at: datetime | None = None


class ContainerRow(BaseModel):
    name: str
    image: str
    ready: bool
    state: str  # "running", "waiting", "terminated"
    reason: str | None = None
    restarts: int = 0
    last_termination_reason: str | None = None
    last_termination_at: datetime | None = None


class PodRow(BaseModel):
    cluster: str
    namespace: str
    name: str
    phase: str
    reason: str | None  # the most telling container/pod reason (e.g. CrashLoopBackOff)
    restarts: int
    node: str | None
    ready: str  # "1/2"
    created_at: datetime | None = None


class EventRow(BaseModel):
    cluster: str
    namespace: str
    kind: str  # involved object kind
    name: str  # involved object name
    type: str  # "Warning" or "Normal"
    reason: str
    message: str
    count: int
    last_seen: datetime | None = None


class PodDetail(BaseModel):
    pod: PodRow
    containers: list[ContainerRow]
    events: list[EventRow]
    labels: dict[str, str] = {}
    owner: str | None = None  # "Deployment/web" when owned through a ReplicaSet


class ProblemRow(BaseModel):
    id: int | None = None
    cluster: str
    kind: ProblemKind
    object_kind: str  # "Pod", "Node", "Deployment", "Job"
    namespace: str | None
    name: str
    reason: str
    message: str
    since: datetime
    resolved_at: datetime | None = None
    last_deploy: str | None = None  # the last deployment of the workload's image, when known
    last_deploy_at: datetime | None = None


class Page(BaseModel, Generic[T]):
    rows: list[T]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))
