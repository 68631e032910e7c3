"""Kubernetes: clusters, problems, and one table at a time (pods, workloads, nodes, warning
events) filtered by cluster, namespace and search, paginated server-side; a pod's detail and,
for roles with ``write``, its logs. Refreshed live from the ``kubernetes`` topic."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import reflex as rx
import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.schemas import kubernetes as k
from opssight.services import clusters, teams
from opssight.services import kube_queries as q
from opssight.services.clusters import KubeError
from opssight.state.formatting import ago, bytes_iec, cores, when
from opssight.state.inputs import ALL, single
from opssight.state.live import live_view
from opssight.state.session import caller, protected
from opssight.state.team_scope import callers_team

log = structlog.get_logger(__name__)

TABS = ("pods", "workloads", "nodes", "events")
LOG_LINES = 500


class Params(NamedTuple):
    filter: k.KubeFilter
    tab: str
    pod: tuple[str, str, str] | None  # cluster, namespace, name


class KubeData(BaseModel):
    clusters: list[k.ClusterSummary]
    namespaces: list[str]
    teams: list[str]
    problems: list[k.ProblemRow]
    page: k.Page[Any]
    detail: k.PodDetail | None


def _fetch(params: Params) -> KubeData:
    f = params.filter
    with db.read_session_scope() as session:
        if params.tab == "nodes":
            nodes = q.list_nodes(session, f.cluster)
            page = k.Page[Any](rows=nodes, total=len(nodes), page=1, page_size=max(1, len(nodes)))
        elif params.tab == "workloads":
            page = q.list_workloads(session, f)
        elif params.tab == "events":
            page = q.list_events(session, f)
        else:
            page = q.list_pods(session, f)
        return KubeData(
            clusters=q.clusters(session),
            namespaces=q.namespaces(session, f.cluster),
            teams=teams.namespace_teams(session),
            problems=q.problems(session, f.cluster, team=f.team),
            page=page,
            detail=q.pod_detail(session, *params.pod) if params.pod else None,
        )


def _namespace_teams() -> list[str]:
    with db.read_session_scope() as session:
        return teams.namespace_teams(session)


def _logs(pod: dict[str, str], container: str, previous: bool) -> str:
    with db.session_scope() as session:
        return clusters.pod_logs(
            session,
            pod["cluster"],
            pod["namespace"],
            pod["name"],
            container,
            tail_lines=LOG_LINES,
            previous=previous,
        )


def _usage(used: int | None, total: int, fmt) -> str:
    return "—" if used is None else f"{fmt(used)} of {fmt(total)}"


def _cluster_cells(c: k.ClusterSummary) -> dict[str, str]:
    phases = ", ".join(f"{n} {phase.lower()}" for phase, n in sorted(c.pods_by_phase.items()))
    return {
        "name": c.name,
        "server": c.server,
        "state": c.state,
        "error": c.error or "",
        "demo": "demo" if c.is_demo else "",
        "checked": when(c.checked_at),
        "nodes": f"{c.nodes_ready}/{c.nodes_total} nodes ready",
        "pods": phases or "no pods",
        "cpu": f"{cores(c.cpu_requested_m)} of {cores(c.cpu_allocatable_m)} requested",
        "memory": f"{bytes_iec(c.memory_requested_b)} of {bytes_iec(c.memory_allocatable_b)}"
        " requested",
        "cpu_used": _usage(c.cpu_usage_m, c.cpu_allocatable_m, cores),
        "memory_used": _usage(c.memory_usage_b, c.memory_allocatable_b, bytes_iec),
        "problems": str(c.open_problems),
    }


def _problem_cells(p: k.ProblemRow) -> dict[str, str]:
    deploy = f"{p.last_deploy} ({ago(p.last_deploy_at)})" if p.last_deploy else "—"
    return {
        "cluster": p.cluster,
        "kind": p.kind,
        "object": f"{p.object_kind}/{p.name}",
        "namespace": p.namespace or "",
        "reason": p.reason,
        "message": p.message,
        "since": ago(p.since),
        "deploy": deploy,
        "id": str(p.id or ""),
    }


def _row_cells(tab: str, row: Any) -> dict[str, str]:
    if tab == "nodes":
        return {
            "cluster": row.cluster,
            "name": row.name,
            "state": "ok" if row.ready else "down",
            "status": "Ready" if row.ready else "NotReady",
            "roles": ", ".join(row.roles) or "—",
            "version": row.version,
            "cpu": _usage(row.cpu_usage_m, row.cpu_allocatable_m, cores)
            if row.cpu_usage_m is not None
            else cores(row.cpu_allocatable_m),
            "memory": _usage(row.memory_usage_b, row.memory_allocatable_b, bytes_iec)
            if row.memory_usage_b is not None
            else bytes_iec(row.memory_allocatable_b),
            "pods": str(row.pods),
            "age": ago(row.created_at),
        }
    if tab == "workloads":
        counts = "/".join("—" if v is None else str(v) for v in (row.ready, row.desired))
        return {
            "cluster": row.cluster,
            "namespace": row.namespace,
            "kind": row.kind,
            "name": row.name,
            "ready": counts,
            "rollout": row.rollout,
            "state": {"complete": "ok", "stuck": "down", "failed": "down"}.get(row.rollout, ""),
            "images": ", ".join(row.images),
            "age": ago(row.created_at),
        }
    if tab == "events":
        return {
            "cluster": row.cluster,
            "namespace": row.namespace,
            "object": f"{row.kind}/{row.name}",
            "type": row.type,
            "reason": row.reason,
            "message": row.message,
            "count": str(row.count),
            "last_seen": ago(row.last_seen),
        }
    return {
        "cluster": row.cluster,
        "namespace": row.namespace,
        "name": row.name,
        "phase": row.phase,
        "reason": row.reason or "",
        "state": _pod_state(row),
        "ready": row.ready,
        "restarts": str(row.restarts),
        "node": row.node or "—",
        "age": ago(row.created_at),
    }


def _pod_state(row: k.PodRow) -> str:
    if row.reason:
        return "down"
    return {"Running": "ok", "Succeeded": "ok", "Pending": "degraded"}.get(row.phase, "down")


@live_view("kubernetes", "connectors")
class KubernetesState(rx.State):
    cluster: str = ""
    namespace: str = ""
    team: str = ""
    search: str = ""
    tab: str = "pods"
    page: int = 1
    clusters: list[dict[str, str]] = []
    cluster_names: list[str] = []
    namespaces: list[str] = []
    teams: list[str] = []
    problems: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    total: int = 0
    pages: int = 1
    pod: dict[str, str] = {}
    containers: list[dict[str, str]] = []
    pod_events: list[dict[str, str]] = []
    logs: str = ""
    logs_error: str = ""
    can_read_logs: bool = False
    loaded: bool = False
    error: str = ""

    def _params(self) -> Params:
        pod = (self.pod["cluster"], self.pod["namespace"], self.pod["name"]) if self.pod else None
        query = k.KubeFilter(
            cluster=self.cluster,
            namespace=self.namespace,
            team=self.team,
            search=self.search,
            page=self.page,
        )
        return Params(query, self.tab if self.tab in TABS else "pods", pod)

    def _live_params(self) -> Params | None:
        return self._params() if self.loaded else None

    @staticmethod
    def _fetch(params: Params) -> KubeData:
        return _fetch(params)

    def _apply(self, data: KubeData) -> None:
        self.clusters = [_cluster_cells(c) for c in data.clusters]
        self.cluster_names = [c.name for c in data.clusters]
        self.namespaces, self.teams = data.namespaces, data.teams
        self.problems = [_problem_cells(p) for p in data.problems]
        self.rows = [_row_cells(self.tab, r) for r in data.page.rows]
        self.total, self.pages = data.page.total, data.page.pages
        self.page = min(self.page, self.pages)
        self._apply_detail(data.detail)
        self.loaded, self.error = True, ""

    def _apply_detail(self, detail: k.PodDetail | None) -> None:
        if detail is None:
            self.pod, self.containers, self.pod_events = {}, [], []
            self.logs = self.logs_error = ""
            return
        self.pod = {
            **_row_cells("pods", detail.pod),
            "owner": detail.owner or "—",
            "labels": ", ".join(f"{k}={v}" for k, v in sorted(detail.labels.items())),
        }
        self.containers = [
            {
                "name": c.name,
                "image": c.image,
                "state": c.state,
                "reason": c.reason or "",
                "ready": "ready" if c.ready else "not ready",
                "restarts": str(c.restarts),
                "last": f"{c.last_termination_reason} ({ago(c.last_termination_at)})"
                if c.last_termination_reason
                else "—",
            }
            for c in detail.containers
        ]
        self.pod_events = [_row_cells("events", e) for e in detail.events]

    async def _reload(self) -> None:
        try:
            self._apply(await asyncio.to_thread(_fetch, self._params()))
        except ValidationError:
            log.info("kubernetes.bad_filter")
            self.search, self.page = "", 1
        except SQLAlchemyError as exc:
            log.error("kubernetes.load_failed", error=str(exc))
            self.error = "The database is unreachable; cluster data cannot be shown right now."

    @rx.event
    @protected("read")
    async def load(self) -> None:
        """The first visit opens on the person's own team (when it owns namespaces)."""
        self.can_read_logs = "write" in caller().permissions
        link = self.router.url.query_parameters  # ?cluster=[&namespace=&pod=] (timeline links)
        if not self.loaded and not link:
            team = await callers_team()
            self.team = team if team in await asyncio.to_thread(_namespace_teams) else ""
        if link.get("cluster"):
            self.team, self.namespace, self.page = "", "", 1
            self.cluster = str(link["cluster"])[:200]
            if link.get("namespace") and link.get("pod"):
                namespace, name = str(link["namespace"])[:253], str(link["pod"])[:253]
                self.pod = {"cluster": self.cluster, "namespace": namespace, "name": name}
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_team(self, value: str) -> None:
        self.team, self.page = ("" if value == ALL else value[:200]), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_cluster(self, value: str) -> None:
        self.cluster = "" if value == ALL else value[:200]
        self.namespace, self.page = "", 1
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_namespace(self, value: str) -> None:
        self.namespace, self.page = ("" if value == ALL else value[:253]), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def search_for(self, value: str) -> None:
        self.search, self.page = value[:200], 1
        await self._reload()

    @rx.event
    @protected("read")
    async def choose_tab(self, value: str | list[str]) -> None:
        chosen = single(value)
        self.tab, self.page = (chosen if chosen in TABS else "pods"), 1
        await self._reload()

    @rx.event
    @protected("read")
    async def go_to_page(self, delta: int) -> None:
        step = delta if isinstance(delta, int) and abs(delta) <= 1 else 0  # a forged event
        self.page = max(1, min(self.pages, self.page + step))
        await self._reload()

    @rx.event
    @protected("read")
    async def open_pod(self, cluster: str, namespace: str, name: str) -> None:
        self.pod = {"cluster": str(cluster), "namespace": str(namespace), "name": str(name)}
        self.logs = self.logs_error = ""
        await self._reload()

    @rx.event
    def close_pod(self) -> None:
        self._apply_detail(None)

    @rx.event
    @protected("write")
    async def show_logs(self, container: str, previous: bool) -> None:
        """The container's last lines (or its previous instance's): roles with ``write``."""
        if not self.pod:
            return
        try:
            self.logs = await asyncio.to_thread(_logs, self.pod, str(container), bool(previous))
            self.logs_error = "" if self.logs else "The container has written no log lines."
        except KubeError as exc:
            self.logs, self.logs_error = "", exc.message
