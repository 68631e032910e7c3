"""Demo Kubernetes cluster: recorded real objects listed, then a recorded watch stream replayed,
all through ``services.clusters`` like a live cluster's list and watch.

The cluster ``demo-eks`` has the two EKS nodes of honeycomb's NodeList, kdash's workloads,
pods (scheduled ones re-placed on those nodes), events and node metrics (renamed to those
nodes), and nri-kubernetes' pod in CrashLoopBackOff. Each pass after the first replays the next
event of kubeclient's pod watch stream (ADDED, MODIFIED, DELETED, in turn by the time slot), so
the demo is deterministic and a restart lists the same objects again. The recordings come from
clusters of several years; each one's timestamps are shifted together so that its latest is a
minute ago (ages and "since" read as on a live cluster, their order and spacing kept).
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from opssight.demo.recordings import load
from opssight.integrations.kubernetes import Change, Health, Listed, Usage, Watched
from opssight.models.base import utcnow
from opssight.services import clusters

CLUSTER = "demo-eks"
SERVER = "https://demo-eks.invalid"  # nothing is ever requested from it
LISTS = {
    "Deployment": "kdash.deployments.list.yaml",
    "ReplicaSet": "kdash.replicasets.list.yaml",
    "StatefulSet": "kdash.stfs.list.yaml",
    "DaemonSet": "kdash.daemonsets.list.yaml",
    "Job": "kdash.jobs.list.yaml",
    "CronJob": "kdash.cronjobs.list.yaml",
    "Event": "kdash.events.list.yaml",
}
CRASHLOOP = (
    "nri-kubernetes.kubelet-pods.podlist.v1.34.crashloopbackoff.json",
    "e2e-container-creating",
)
WATCH_STREAM = "kubeclient.watch-stream.pods.jsonl"
VERSION = "1"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
LATEST_AGO = timedelta(minutes=1)


def _stamps(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _stamps(v)]
    if isinstance(value, list):
        return [s for v in value for s in _stamps(v)]
    return [value] if isinstance(value, str) and STAMP.match(value) else []


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _shifted(value: Any, delta: timedelta) -> Any:
    if isinstance(value, dict):
        return {k: _shifted(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, delta) for v in value]
    if isinstance(value, str) and STAMP.match(value):
        return (_parse(value) + delta).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def restamped(items: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``items`` with every RFC 3339 timestamp moved so that the latest is ``LATEST_AGO`` ago."""
    stamps = _stamps(items)
    if not stamps:
        return items
    return _shifted(items, now - LATEST_AGO - max(_parse(s) for s in stamps))


def _items(name: str) -> list[dict[str, Any]]:
    return copy.deepcopy(load(f"kubernetes.{name}")["items"])


def _nodes() -> list[dict[str, Any]]:
    return _items("honeycomb.nodelist.eks.json")


def _pods(node_names: list[str], now: datetime) -> list[dict[str, Any]]:
    recording, name = CRASHLOOP
    crashloop = next(p for p in _items(recording) if p["metadata"]["name"] == name)
    pods = [*restamped(_items("kdash.pods.list.yaml"), now), *restamped([crashloop], now)]
    placed = itertools.cycle(node_names)
    for pod in pods:
        if pod["spec"].get("nodeName"):
            pod["spec"]["nodeName"] = next(placed)
    return pods


def _node_metrics(node_names: list[str]) -> list[dict[str, Any]]:
    metrics = _items("kdash.nodemetricslist.json")
    for item, node in zip(metrics, node_names, strict=False):
        item["metadata"]["name"] = node
    return metrics


def listing(now: datetime) -> list[Change]:
    """The demo cluster's full state, as the lists of a live cluster report it."""
    nodes = restamped(_nodes(), now)
    names = [n["metadata"]["name"] for n in nodes]
    pods = _pods(names, now)
    changes: list[Change] = [Listed("Node", nodes, VERSION), Listed("Pod", pods, VERSION)]
    changes += [Listed(kind, restamped(_items(name), now), VERSION) for kind, name in LISTS.items()]
    return [*changes, Usage(_node_metrics(names), None), Health("ok")]


def watch_event(slot: int, now: datetime) -> Watched:
    """The recorded watch stream's event for a time slot (the stream, over and over)."""
    stream = load(f"kubernetes.{WATCH_STREAM}")
    event = copy.deepcopy(stream[slot % len(stream)])
    (shown,) = restamped([event["object"]], now)
    return Watched("Pod", event["type"], shown, str(slot))


class Feed:
    """The demo job: lists once per process, then one recorded watch event per pass; each pass
    also re-checks, like a live watcher does every 30 s."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.listed = False

    def __call__(self, session: Session, now: datetime | None = None) -> int:
        """Apply this pass's changes; returns how many."""
        now = now or utcnow()
        if not self.listed:
            clusters.register(session, CLUSTER, SERVER, is_demo=True)
            changes = listing(now)
            self.listed = True
        else:
            changes = [watch_event(int(now.timestamp() // self.interval), now)]
        clusters.apply(session, CLUSTER, changes, now=now)
        clusters.recheck(session, CLUSTER, now=now)
        return len(changes)
