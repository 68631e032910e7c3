"""Kubernetes ingest and reads on real SQLite and PostgreSQL: recorded list payloads and watch
events through ``services.clusters``, then the views' queries and the Overview card."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, func, select

from opssight import db, events
from opssight.demo.recordings import load
from opssight.integrations.kubernetes import Health, Listed, Usage, Watched
from opssight.models import (
    ConnectorStatus,
    DoraDeployment,
    KubePod,
    KubeProblem,
    KubeRestart,
    Repository,
)
from opssight.schemas.kubernetes import KubeFilter
from opssight.services import clusters, kube_queries, overview

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KINDS = {
    "Node": "kdash.nodes.list.yaml",
    "Pod": "kdash.pods.list.yaml",
    "Deployment": "kdash.deployments.list.yaml",
    "ReplicaSet": "kdash.replicasets.list.yaml",
    "StatefulSet": "kdash.stfs.list.yaml",
    "DaemonSet": "kdash.daemonsets.list.yaml",
    "Job": "kdash.jobs.list.yaml",
    "CronJob": "kdash.cronjobs.list.yaml",
    "Event": "kdash.events.list.yaml",
}
NRI = "kubernetes.nri-kubernetes.kubelet-pods.podlist.v1.34.crashloopbackoff.json"


def items(recording: str) -> list[dict[str, Any]]:
    return copy.deepcopy(load(f"kubernetes.{recording}")["items"])


def crashloop_pod() -> dict[str, Any]:
    pod = next(p for p in load(NRI)["items"] if p["metadata"]["name"] == "e2e-container-creating")
    return {**copy.deepcopy(pod), "kind": "Pod"}


def listed() -> list[Listed]:
    return [Listed(kind, items(name), "100") for kind, name in KINDS.items()]


@pytest.fixture
def cluster(session: Session) -> str:
    clusters.register(session, "prod", "https://prod.example")
    clusters.apply(session, "prod", [*listed(), Health("ok")], now=NOW)
    return "prod"


def count(session: Session, model: type, **where: Any) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return session.exec(query).one()


def open_problems(session: Session) -> set[tuple[str, str]]:
    return {(p.kind, p.name) for p in kube_queries.problems(session)}


def test_list_ingest_stores_each_object_once(session: Session, cluster: str) -> None:
    assert count(session, KubePod) == 12  # kdash lists one pod twice
    [summary] = kube_queries.clusters(session)
    assert (summary.name, summary.state, summary.nodes_ready, summary.nodes_total) == (
        "prod",
        "ok",
        1,
        1,
    )
    assert summary.pods_by_phase == {"Failed": 2, "Pending": 4, "Running": 5, "Succeeded": 1}
    assert summary.cpu_allocatable_m == 8000
    assert summary.cpu_usage_m is None  # no metrics.k8s.io reported
    assert open_problems(session) == {
        ("CrashLoopBackOff", "cartservice-67b89ffc69-s5qp8"),
        ("Unschedulable", "adservice-f787c8dcd-tb6x2"),
        ("Unschedulable", "currencyservice-68887d98fd-gc9cn"),
        ("Unschedulable", "loadgenerator-86f46dcb88-62vzw"),
    }
    restarts = count(session, KubeRestart)
    assert count(session, KubeRestart, pod="cartservice-67b89ffc69-s5qp8") == 1
    clusters.apply(session, "prod", listed(), now=NOW)  # the same list again: nothing doubles
    assert count(session, KubePod) == 12
    assert count(session, KubeProblem) == 4
    assert count(session, KubeRestart) == restarts


def test_watch_events_add_modify_delete(session: Session, cluster: str) -> None:
    pod = crashloop_pod()
    clusters.apply(session, "prod", [Watched("Pod", "ADDED", pod, "101")], now=NOW)
    assert ("CrashLoopBackOff", "e2e-container-creating") in open_problems(session)
    fixed = copy.deepcopy(pod)
    status = fixed["status"]["containerStatuses"][0]
    status.update(state={"running": {"startedAt": "2026-01-13T18:41:00Z"}}, ready=True)
    status["restartCount"] = 3
    clusters.apply(session, "prod", [Watched("Pod", "MODIFIED", fixed, "102")], now=NOW)
    assert ("CrashLoopBackOff", "e2e-container-creating") not in open_problems(session)
    history = kube_queries.problems(session, "prod", include_resolved=True)
    resolved = [p for p in history if p.name == "e2e-container-creating"]
    assert [p.resolved_at for p in resolved] == [NOW]
    assert count(session, KubeRestart, pod="e2e-container-creating") == 2  # counts 2 and 3
    clusters.apply(session, "prod", [Watched("Pod", "DELETED", fixed, "103")], now=NOW)
    assert kube_queries.pod_detail(session, "prod", "scraper", "e2e-container-creating") is None
    assert clusters.recheck(session, "prod", now=NOW) == 0


def test_a_relist_removes_what_was_deleted_meanwhile(session: Session, cluster: str) -> None:
    remaining = [p for p in items("kdash.pods.list.yaml") if "service" not in p["metadata"]["name"]]
    clusters.apply(session, "prod", [Listed("Pod", remaining, "200")], now=NOW)
    names = {p.name for p in kube_queries.list_pods(session, KubeFilter()).rows}
    assert names == {p["metadata"]["name"] for p in remaining}
    assert open_problems(session) == {("Unschedulable", "loadgenerator-86f46dcb88-62vzw")}
    # a watch event after the relist in the same batch still applies
    batch = [Listed("Pod", remaining, "300"), Watched("Pod", "ADDED", crashloop_pod(), "301")]
    clusters.apply(session, "prod", batch, now=NOW)
    assert count(session, KubePod) == len({p["metadata"]["uid"] for p in remaining}) + 1


async def test_events_follow_the_commit(session: Session, cluster: str, database_url: str) -> None:
    async with events.get_bus().subscribe("kubernetes") as subscription:
        clusters.apply(session, "prod", [Watched("Pod", "ADDED", crashloop_pod(), "101")], now=NOW)
        got = [await asyncio.wait_for(subscription.queue.get(), 2) for _ in range(2)]
    assert [(e.topic, e.keys) for e in got] == [
        ("kubernetes", {"cluster": "prod", "kinds": "Pod"}),
        ("kubernetes.problems", {"cluster": "prod"}),
    ]
    with db.session_scope(database_url) as fresh:  # already committed when announced
        assert kube_queries.pod_detail(fresh, "prod", "scraper", "e2e-container-creating")


def test_cluster_health_is_its_connector(session: Session, cluster: str) -> None:
    connector = session.get(ConnectorStatus, "kubernetes:prod")
    assert connector is not None
    assert (connector.state, connector.detail) == ("ok", "1/1 nodes Ready")
    error = "401 Unauthorized: Unauthorized"
    clusters.apply(session, "prod", [Health("unauthorized", error)], now=NOW)
    session.expire_all()
    connector = session.get(ConnectorStatus, "kubernetes:prod")
    assert (connector.state, connector.last_error) == ("down", error)
    [summary] = kube_queries.clusters(session)
    assert (summary.state, summary.error) == ("unauthorized", error)


def test_usage_from_metrics(session: Session, cluster: str) -> None:
    metrics = items("kdash.nodemetricslist.json")
    metrics[0]["metadata"]["name"] = "gke-hello-hipster-default-pool-9e6f6ffb-q16l"
    clusters.apply(session, "prod", [Usage(metrics, None)], now=NOW)
    [node] = kube_queries.list_nodes(session, "prod")
    assert (node.cpu_usage_m, node.memory_usage_b) == (162, 582980 * 1024)
    clusters.apply(session, "prod", [Usage(None, None)], now=NOW)
    [node] = kube_queries.list_nodes(session)
    assert node.cpu_usage_m is None


def test_pods_page_filter_and_search(session: Session, cluster: str) -> None:
    clusters.apply(session, "prod", [Watched("Pod", "ADDED", crashloop_pod(), "101")], now=NOW)
    first = kube_queries.list_pods(session, KubeFilter(page_size=5))
    second = kube_queries.list_pods(session, KubeFilter(page_size=5, page=3))
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (13, 3, 5, 3)
    assert first.rows[0].name == "adservice-f787c8dcd-tb6x2"
    scraper = kube_queries.list_pods(session, KubeFilter(namespace="scraper"))
    assert [p.name for p in scraper.rows] == ["e2e-container-creating"]
    assert scraper.rows[0].ready == "0/1"
    by_image = kube_queries.list_pods(session, KubeFilter(search="ADSERVICE:v0.2"))
    assert [p.name for p in by_image.rows] == ["adservice-f787c8dcd-tb6x2"]
    by_reason = kube_queries.list_pods(session, KubeFilter(search="crashloop"))
    assert {p.name for p in by_reason.rows} == {
        "cartservice-67b89ffc69-s5qp8",
        "e2e-container-creating",
    }
    by_node = kube_queries.list_pods(session, KubeFilter(search="datagen-1-34"))
    assert by_node.total == 1
    assert kube_queries.list_pods(session, KubeFilter(search="100%_")).total == 0
    assert kube_queries.namespaces(session) == ["default", "kube-system", "scraper"]
    assert kube_queries.namespaces(session, "elsewhere") == []


def test_workloads_events_and_pod_detail(session: Session, cluster: str) -> None:
    page = kube_queries.list_workloads(session, KubeFilter(namespace="kube-system"))
    assert {(w.kind, w.name) for w in page.rows} >= {
        ("Deployment", "coredns"),
        ("DaemonSet", "svclb-traefik"),
    }
    assert all(w.kind != "ReplicaSet" for w in page.rows)
    coredns = next(w for w in page.rows if w.name == "coredns")
    assert (coredns.desired, coredns.ready, coredns.rollout) == (1, 1, "complete")
    found = kube_queries.list_workloads(session, KubeFilter(search="klipper"))
    assert [w.name for w in found.rows] == ["svclb-traefik"]

    warnings = kube_queries.list_events(session, KubeFilter())
    assert [(e.kind, e.name, e.reason) for e in warnings.rows] == [
        ("Pod", "ga-edge-0", "FailedScheduling")
    ]
    assert kube_queries.list_events(session, KubeFilter(), warnings_only=False).total == 2

    pod = items("kdash.pods.list.yaml")[0]  # adservice, moved under a recorded ReplicaSet
    pod["metadata"].update(namespace="kube-system", name="metrics-server-86cbb8457f-x1")
    pod["metadata"]["ownerReferences"][0]["name"] = "metrics-server-86cbb8457f"
    pod["metadata"]["uid"] = "moved-pod"
    clusters.apply(session, "prod", [Watched("Pod", "ADDED", pod, "101")], now=NOW)
    detail = kube_queries.pod_detail(session, "prod", "kube-system", pod["metadata"]["name"])
    assert detail is not None
    assert detail.owner == "Deployment/metrics-server"
    assert [c.name for c in detail.containers] == ["server"]
    assert detail.labels["app"] == "adservice"
    events_detail = kube_queries.pod_detail(
        session, "prod", "default", "cartservice-67b89ffc69-s5qp8"
    )
    assert events_detail is not None and events_detail.containers[0].restarts == 896


def test_last_deploy_of_the_image(session: Session, cluster: str) -> None:
    sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
    session.add(Repository(id=7, full_name="demo-org/api"))
    session.add(DoraDeployment(kind=4, ref_id=1, repo_id=7, at=NOW - timedelta(hours=1), sha=sha))
    session.commit()
    pod = crashloop_pod()
    pod["spec"]["containers"][0]["image"] = f"ghcr.io/demo-org/api:{sha[:7]}"
    clusters.apply(session, "prod", [Watched("Pod", "ADDED", pod, "101")], now=NOW)
    rows = {p.name: p for p in kube_queries.problems(session, "prod")}
    assert rows["e2e-container-creating"].last_deploy == "demo-org/api@0f1e2d3"
    assert rows["e2e-container-creating"].last_deploy_at == NOW - timedelta(hours=1)
    assert rows["cartservice-67b89ffc69-s5qp8"].last_deploy is None


def test_overview_card_and_forget(session: Session, cluster: str) -> None:
    card = overview.overview(session).kubernetes
    assert card.model_dump() == {
        "clusters_ok": 1,
        "clusters_total": 1,
        "nodes_ready": 1,
        "nodes_total": 1,
        "pods_running": 5,
        "pods_total": 12,
        "open_problems": 4,
    }
    assert clusters.forget(session, ["prod"]) == 1
    assert overview.overview(session).kubernetes.clusters_total == 0
    assert count(session, KubePod) == 0
