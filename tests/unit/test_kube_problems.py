"""Problem detection and object reading on the real recorded objects (varied where a fixture has
no such case: the statuses then come from another real object's shape)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from opssight.demo.recordings import load
from opssight.services import kube_objects, kube_problems

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)


def item(name: str, recording: str) -> dict[str, Any]:
    items = load(f"kubernetes.{recording}")["items"]
    return copy.deepcopy(next(i for i in items if i["metadata"]["name"] == name))


def nri_pod(name: str) -> dict[str, Any]:
    return item(name, "nri-kubernetes.kubelet-pods.podlist.v1.34.crashloopbackoff.json")


def kinds(found: list[kube_problems.Found]) -> list[str]:
    return [f.kind for f in found]


def test_crashloop_from_the_real_kubelet_status() -> None:
    pod = nri_pod("e2e-container-creating")
    [found] = kube_problems.pod_problems(pod, NOW, FIVE_MINUTES)
    assert found.kind == "CrashLoopBackOff"
    assert found.message.startswith("back-off 20s restarting failed container=alpine")
    assert found.since == datetime(2026, 1, 13, 18, 40, 4, tzinfo=UTC)  # the last crash
    assert found.image == "alpine:3.22.1"
    assert kube_objects.pod_reason(pod) == "CrashLoopBackOff"


def test_running_and_completed_pods_have_no_problem() -> None:
    pods = load("kubernetes.nri-kubernetes.kubelet-pods.podlist.v1.34.crashloopbackoff.json")
    flagged = {
        p["metadata"]["name"]
        for p in pods["items"]
        if kube_problems.pod_problems(p, NOW, FIVE_MINUTES)
    }
    assert flagged == {"e2e-container-creating"}


def test_unschedulable_only_after_the_pending_delay() -> None:
    pod = item("adservice-f787c8dcd-tb6x2", "kdash.pods.list.yaml")
    since = datetime(2021, 4, 27, 10, 13, 58, tzinfo=UTC)
    assert kube_problems.pod_problems(pod, since + timedelta(minutes=4), FIVE_MINUTES) == []
    [found] = kube_problems.pod_problems(pod, since + timedelta(minutes=5), FIVE_MINUTES)
    assert (found.kind, found.since) == ("Unschedulable", since)
    assert found.message == "0/2 nodes are available: 2 Insufficient cpu."


def test_image_pull_and_oomkilled() -> None:
    pod = nri_pod("e2e-container-creating")
    status = pod["status"]["containerStatuses"][0]
    status["state"] = {"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}
    status["lastState"]["terminated"]["reason"] = "OOMKilled"
    found = {f.kind: f for f in kube_problems.pod_problems(pod, NOW, FIVE_MINUTES)}
    assert set(found) == {"ImagePullBackOff", "OOMKilled"}
    assert (found["ImagePullBackOff"].reason, found["ImagePullBackOff"].message) == (
        "ErrImagePull",
        "pull access denied",
    )
    assert found["OOMKilled"].since == datetime(2026, 1, 13, 18, 40, 4, tzinfo=UTC)


def test_node_not_ready() -> None:
    node = item("gke-hello-hipster-default-pool-9e6f6ffb-q16l", "kdash.nodes.list.yaml")
    assert kube_problems.node_problems(node, NOW) == []
    ready = kube_objects.condition(node, "Ready")
    assert ready is not None
    ready.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting")
    [found] = kube_problems.node_problems(node, NOW)
    assert (found.kind, found.reason) == ("NodeNotReady", "NodeStatusUnknown")
    assert found.since == kube_objects.timestamp(ready["lastTransitionTime"])


def test_rollout_past_its_deadline_and_failed_job() -> None:
    deployment = item("coredns", "kdash.deployments.list.yaml")
    assert kube_problems.workload_problems(deployment, NOW) == []
    progressing = kube_objects.condition(deployment, "Progressing")
    assert progressing is not None
    progressing.update(status="False", reason="ProgressDeadlineExceeded")
    [stuck] = kube_problems.workload_problems(deployment, NOW)
    assert (stuck.kind, stuck.image) == ("RolloutStuck", "rancher/coredns-coredns:1.8.0")
    assert kube_objects.workload_values(deployment)["rollout"] == "stuck"

    job = item("helm-install-traefik", "kdash.jobs.list.yaml")
    assert kube_problems.workload_problems(job, NOW) == []
    job["status"]["conditions"][0].update(type="Failed", reason="BackoffLimitExceeded")
    [failed] = kube_problems.workload_problems(job, NOW)
    assert (failed.kind, failed.reason) == ("JobFailed", "BackoffLimitExceeded")
    assert kube_objects.workload_values(job)["rollout"] == "failed"


def test_pod_columns_like_kubectl() -> None:
    values = kube_objects.pod_values(item("cartservice-67b89ffc69-s5qp8", "kdash.pods.list.yaml"))
    assert (values["phase"], values["reason"], values["restarts"]) == (
        "Running",
        "CrashLoopBackOff",
        896,
    )
    assert (values["ready_containers"], values["total_containers"]) == (0, 1)
    assert (values["owner_kind"], values["owner_name"]) == ("ReplicaSet", "cartservice-67b89ffc69")
    assert values["cpu_requested_m"] == 200
    assert values["memory_requested_b"] == 64 * 1024**2
    evicted = item("frontend-5c4745dfdb-qz7fg", "kdash.pods.list.yaml")
    assert kube_objects.pod_reason(evicted) == "Preempting"


def test_quantities_and_node_columns() -> None:
    assert kube_objects.millicores("162953844n") == 162
    assert kube_objects.millicores("2") == 2000
    assert kube_objects.quantity("32734444Ki") == 32734444 * 1024
    assert kube_objects.quantity("not a quantity") == 0
    node = kube_objects.node_values(
        item("gke-hello-hipster-default-pool-9e6f6ffb-q16l", "kdash.nodes.list.yaml")
    )
    assert node["ready"] is True
    assert node["cpu_allocatable_m"] == 8000
    assert node["roles"] == ["control-plane", "master"]
