"""The demo cluster: recorded objects listed, then the recorded watch stream replayed, through
the same service as a live cluster; labelled demo; deterministic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from opssight.demo import kubernetes as demo
from opssight.models import ConnectorStatus
from opssight.schemas.kubernetes import KubeFilter
from opssight.services import clusters, kube_queries

INTERVAL = 15.0
SLOT = 3_999_999  # a multiple of 3: its stream event is the first (ADDED)


def at(slot: int) -> datetime:
    return datetime.fromtimestamp(slot * INTERVAL, UTC)


def php(session: Session) -> list[str]:
    return [p.name for p in kube_queries.list_pods(session, KubeFilter(search="php")).rows]


def test_the_demo_cluster_lists_then_replays_the_stream(session: Session) -> None:
    feed = demo.Feed(INTERVAL)
    assert feed(session, now=at(SLOT)) == 11  # 9 lists, usage, health
    [summary] = kube_queries.clusters(session)
    assert (summary.name, summary.state, summary.is_demo) == ("demo-eks", "ok", True)
    assert (summary.nodes_ready, summary.nodes_total) == (2, 2)
    assert summary.cpu_usage_m == 162 + 102  # kdash's node metrics, on the EKS nodes
    problems = {(p.kind, p.name) for p in kube_queries.problems(session)}
    assert ("CrashLoopBackOff", "e2e-container-creating") in problems
    connector = session.get(ConnectorStatus, "kubernetes:demo-eks")
    assert connector is not None
    assert (connector.is_demo, connector.state, connector.detail) == (True, "ok", "2/2 nodes Ready")
    nodes = {n.name: n.pods for n in kube_queries.list_nodes(session)}
    assert sum(nodes.values()) > 0 and all(nodes.values())

    assert php(session) == []
    feed(session, now=at(SLOT + 3))  # the stream's ADDED
    assert php(session) == ["php"]
    feed(session, now=at(SLOT + 4))  # MODIFIED
    assert php(session) == ["php"]
    feed(session, now=at(SLOT + 5))  # DELETED
    assert php(session) == []


def test_a_restart_lists_the_same_objects(session: Session) -> None:
    demo.Feed(INTERVAL)(session, now=at(SLOT))
    first = kube_queries.list_pods(session, KubeFilter(page_size=200))
    demo.Feed(INTERVAL)(session, now=at(SLOT))
    again = kube_queries.list_pods(session, KubeFilter(page_size=200))
    assert again == first
    assert len(kube_queries.problems(session)) == len(kube_queries.problems(session, "demo-eks"))
    assert clusters.forget_demo(session) == 1
    assert kube_queries.clusters(session) == []


def test_recorded_times_read_as_recent(session: Session) -> None:
    """Recordings from 2020-2026 are shifted together: the latest stamp of each is a minute old,
    their spacing kept."""
    now = at(SLOT)
    demo.Feed(INTERVAL)(session, now=now)
    crash = next(p for p in kube_queries.problems(session) if p.name == "e2e-container-creating")
    assert timedelta(0) <= now - crash.since <= timedelta(days=1)
    pods = kube_queries.list_pods(session, KubeFilter(page_size=200)).rows
    assert max(p.created_at for p in pods if p.created_at) <= now
    recorded = demo._items("kdash.pods.list.yaml")
    shifted = demo.restamped(recorded, now)
    first, second = (p["metadata"]["creationTimestamp"] for p in recorded[:2])
    moved = [p["metadata"]["creationTimestamp"] for p in shifted[:2]]
    assert demo._parse(moved[1]) - demo._parse(moved[0]) == demo._parse(second) - demo._parse(first)
