"""The Kubernetes replay server, checked with the official ``kubernetes`` client: what the client
sends and deserializes is what a real API server would give it (shapes, statuses, watch
semantics), reached through a real kubeconfig with two contexts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.replay.kubernetes import FIXTURES, KubeReplay, write_kubeconfig

CRASHLOOP_POD = ("scraper", "e2e-container-creating")


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[tuple[KubeReplay, KubeReplay, Path]]:
    with KubeReplay() as prod, KubeReplay(token="other-token") as staging:
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", {"prod": prod, "staging": staging}, current="prod"
        )
        yield prod, staging, kubeconfig


def core(kubeconfig: Path, context: str = "prod") -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(kubeconfig), context=context))


def apps(kubeconfig: Path, context: str = "prod") -> client.AppsV1Api:
    return client.AppsV1Api(config.new_client_from_config(str(kubeconfig), context=context))


def test_kubeconfig_has_two_contexts_each_reaching_its_cluster(clusters: Any) -> None:
    prod, staging, kubeconfig = clusters
    contexts, current = config.list_kube_config_contexts(str(kubeconfig))
    assert [c["name"] for c in contexts] == ["prod", "staging"]
    assert current["name"] == "prod"
    staging.delete("Pod", "stress2", "stress-test")
    prod_pods = core(kubeconfig, "prod").list_pod_for_all_namespaces()
    staging_pods = core(kubeconfig, "staging").list_pod_for_all_namespaces()
    assert len(prod_pods.items) == len(staging_pods.items) + 1
    assert prod.requests[-1].headers["authorization"] == f"Bearer {prod.token}"
    assert staging.requests[-1].headers["authorization"] == "Bearer other-token"
    version = client.VersionApi(config.new_client_from_config(str(kubeconfig))).get_code()
    assert version.git_version == "v1.20.8-gke.900"


def test_lists_deserialize_with_server_resource_versions(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    pods = api.list_pod_for_all_namespaces()
    assert pods.kind == "PodList" and pods.api_version == "v1"
    assert pods.metadata.resource_version == prod.resource_version
    keys = [(p.metadata.namespace, p.metadata.name) for p in pods.items]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == 42
    versions = [int(p.metadata.resource_version) for p in pods.items]
    assert max(versions) <= int(prod.resource_version)
    crashing = api.read_namespaced_pod(CRASHLOOP_POD[1], CRASHLOOP_POD[0])
    waiting = [s.state.waiting for s in crashing.status.container_statuses if s.state.waiting]
    assert [w.reason for w in waiting] == ["CrashLoopBackOff"]

    nodes = api.list_node()
    assert nodes.kind == "NodeList"
    assert {n.metadata.name for n in nodes.items} == {
        "gke-hello-hipster-default-pool-9e6f6ffb-q16l",
        "duckboat-01",
        "duckboat-02",
        # named by pods' spec.nodeName: copies of the real nodes
        "datagen-1-34",
        "gke-hello-hipster-default-pool-9e6f6ffb-xzbc",
        "ip-172-26-67-126.ec2.internal",
        "k3d-my-kdash-cluster-server-0",
    }
    assert api.list_namespaced_pod("scraper").items
    namespaces = {n.metadata.name for n in api.list_namespace().items}
    assert {"default", "kube-system", "scraper", "gagent"} <= namespaces
    events = api.list_event_for_all_namespaces()
    assert events.kind == "EventList" and len(events.items) == 2

    deployments = apps(kubeconfig).list_deployment_for_all_namespaces()
    assert deployments.kind == "DeploymentList"
    assert [d.metadata.name for d in deployments.items] == [
        "coredns",
        "local-path-provisioner",
        "metrics-server",
        "traefik",
    ]
    apps_api = apps(kubeconfig)
    assert apps_api.list_stateful_set_for_all_namespaces().items[0].metadata.name == "web"
    assert apps_api.list_daemon_set_for_all_namespaces().items
    assert len(apps_api.list_replica_set_for_all_namespaces().items) == 4
    batch = client.BatchV1Api(config.new_client_from_config(str(kubeconfig), context="prod"))
    assert len(batch.list_job_for_all_namespaces().items) == 3
    assert batch.list_namespaced_cron_job("default").items[0].metadata.name == "hello"


def test_selectors(clusters: Any) -> None:
    _, _, kubeconfig = clusters
    api = core(kubeconfig)
    on_node = api.list_pod_for_all_namespaces(field_selector="spec.nodeName=datagen-1-34")
    assert len(on_node.items) == 24
    assert {p.spec.node_name for p in on_node.items} == {"datagen-1-34"}
    in_ns = api.list_pod_for_all_namespaces(field_selector="metadata.namespace=kube-system")
    assert {p.metadata.namespace for p in in_ns.items} == {"kube-system"}
    frontend = api.list_pod_for_all_namespaces(label_selector="app=frontend")
    assert [p.metadata.name for p in frontend.items] == [
        "frontend-5c4745dfdb-6k8wf",
        "frontend-5c4745dfdb-qz7fg",
    ]
    both = api.list_pod_for_all_namespaces(label_selector="app in (frontend,adservice),!nope")
    assert len(both.items) == 3


def test_pagination_with_continue_and_expiry(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    names, token, pages = [], None, 0
    while True:
        page = api.list_pod_for_all_namespaces(limit=10, _continue=token)
        pages += 1
        names += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        if pages == 1:
            assert page.metadata.remaining_item_count == 32
            # a change between pages is not seen: the pages are one snapshot
            prod.delete("Pod", "stress2", "stress-test")
        token = page.metadata._continue
        if not token:
            break
    assert pages == 5 and len(names) == len(set(names)) == 42
    assert ("stress-test", "stress2") in names

    first = api.list_pod_for_all_namespaces(limit=10)
    prod.expire("Pod")
    with pytest.raises(ApiException) as raised:
        api.list_pod_for_all_namespaces(limit=10, _continue=first.metadata._continue)
    assert raised.value.status == 410
    body = json.loads(raised.value.body)
    assert body["reason"] == "Expired" and "continue parameter is too old" in body["message"]
    fresh = api.list_pod_for_all_namespaces(limit=10)
    assert api.list_pod_for_all_namespaces(limit=10, _continue=fresh.metadata._continue).items


def test_watch_from_list_version_gets_added_modified_deleted(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    listed = api.list_pod_for_all_namespaces()
    pod = prod.objects("Pod", "default")[0]
    new = prod.copies("Pod", ("default", pod["metadata"]["name"]), 1)[0]

    def changes() -> None:
        time.sleep(0.2)
        prod.add("Pod", new)
        prod.modify(
            "Pod",
            new["metadata"]["name"],
            "default",
            lambda p: p["status"].update(phase="Failed"),
        )
        prod.delete("Pod", new["metadata"]["name"], "default")

    threading.Thread(target=changes).start()
    seen = []
    stream = watch.Watch().stream(
        api.list_pod_for_all_namespaces,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=2,
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name, event["object"].status.phase))
        assert int(event["object"].metadata.resource_version) > int(
            listed.metadata.resource_version
        )
    name = new["metadata"]["name"]
    assert seen == [
        ("ADDED", name, pod["status"]["phase"]),
        ("MODIFIED", name, "Failed"),
        ("DELETED", name, "Failed"),
    ]


def test_watch_without_version_starts_with_the_current_objects(clusters: Any) -> None:
    _, _, kubeconfig = clusters
    stream = watch.Watch().stream(
        apps(kubeconfig).list_namespaced_deployment, "kube-system", timeout_seconds=1
    )
    events = [(e["type"], e["object"].metadata.name) for e in stream]
    assert events == [
        ("ADDED", "coredns"),
        ("ADDED", "local-path-provisioner"),
        ("ADDED", "metrics-server"),
        ("ADDED", "traefik"),
    ]


def test_watch_lines_have_the_recorded_stream_form(clusters: Any) -> None:
    prod, _, _ = clusters
    recorded = (FIXTURES / "kubeclient.watch-stream.pods.jsonl").read_text().splitlines()[0]
    http = urllib3.PoolManager()
    response = http.request(
        "GET",
        f"{prod.url}/api/v1/namespaces/stress-test/pods?watch=1&timeoutSeconds=1",
        headers={"Authorization": f"Bearer {prod.token}"},
        preload_content=False,
    )
    assert response.headers["Transfer-Encoding"] == "chunked"
    [line] = response.read().decode().splitlines()
    assert list(json.loads(line)) == list(json.loads(recorded)) == ["type", "object"]
    assert line.startswith('{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1",')
    assert prod.requests[-1].watch


def test_bookmarks_when_allowed(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    listed = api.list_node()
    threading.Timer(0.3, prod.bookmark).start()
    w = watch.Watch()
    events = list(
        w.stream(
            api.list_node,
            resource_version=listed.metadata.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert events[0]["raw_object"] == {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": prod.resource_version},
    }
    assert w.resource_version == prod.resource_version
    # not asked for: no bookmarks
    threading.Timer(0.3, prod.bookmark).start()
    version = prod.resource_version
    assert (
        list(watch.Watch().stream(api.list_node, resource_version=version, timeout_seconds=1)) == []
    )


def test_periodic_bookmarks() -> None:
    with KubeReplay(bookmark_interval=0.2) as replay:
        http = urllib3.PoolManager()
        response = http.request(
            "GET",
            f"{replay.url}/api/v1/pods?watch=true&resourceVersion={replay.resource_version}"
            "&allowWatchBookmarks=true&timeoutSeconds=1",
            headers={"Authorization": f"Bearer {replay.token}"},
        )
        types = [json.loads(line)["type"] for line in response.data.decode().splitlines()]
        assert 3 <= types.count("BOOKMARK") <= 5 and set(types) == {"BOOKMARK"}


def test_watch_from_an_expired_version_raises_410(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    old = api.list_pod_for_all_namespaces().metadata.resource_version
    prod.expire("Pod")
    for kwargs in ({"timeout_seconds": 2}, {}):  # without a timeout the client retries once
        with pytest.raises(ApiException) as raised:
            list(
                watch.Watch().stream(
                    api.list_pod_for_all_namespaces, resource_version=old, **kwargs
                )
            )
        assert raised.value.status == 410
        assert f"Expired: too old resource version: {old}" in raised.value.reason
    # a relist gives a version to watch from
    fresh = api.list_pod_for_all_namespaces().metadata.resource_version
    events = watch.Watch().stream(
        api.list_pod_for_all_namespaces, resource_version=fresh, timeout_seconds=1
    )
    assert list(events) == []
    # other kinds are not affected
    assert list(watch.Watch().stream(api.list_node, resource_version=old, timeout_seconds=1)) == []


def test_expire_ends_open_watches_with_error_410(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    version = api.list_pod_for_all_namespaces().metadata.resource_version
    threading.Timer(0.3, prod.expire, args=("Pod",), kwargs={"open_watches": True}).start()
    started = time.monotonic()
    with pytest.raises(ApiException) as raised:
        list(
            watch.Watch().stream(
                api.list_pod_for_all_namespaces, resource_version=version, timeout_seconds=10
            )
        )
    assert raised.value.status == 410 and time.monotonic() - started < 5


def test_dropped_watch_breaks_the_stream(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    version = api.list_pod_for_all_namespaces().metadata.resource_version
    threading.Timer(0.3, prod.drop_watches).start()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        list(
            watch.Watch().stream(
                api.list_pod_for_all_namespaces, resource_version=version, timeout_seconds=10
            )
        )
    deadline = time.monotonic() + 2
    while prod.open_watches and time.monotonic() < deadline:
        time.sleep(0.05)
    assert prod.open_watches == 0


def test_pod_logs_tail_previous_and_errors(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    namespace, name = CRASHLOOP_POD
    prod.set_log(namespace, name, ["starting", "working", "done"])
    prod.set_log(namespace, name, ["boom", "exit 1"], previous=True)
    assert api.read_namespaced_pod_log(name, namespace) == "starting\nworking\ndone\n"
    assert api.read_namespaced_pod_log(name, namespace, tail_lines=2) == "working\ndone\n"
    assert api.read_namespaced_pod_log(name, namespace, previous=True) == "boom\nexit 1\n"
    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod_log("stress2", "stress-test", previous=True)
    assert raised.value.status == 400
    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod_log("gone", namespace)
    assert raised.value.status == 404
    assert json.loads(raised.value.body)["message"] == 'pods "gone" not found'

    prod.set_status(f"/api/v1/namespaces/{namespace}/pods/{name}/log", 403)
    with pytest.raises(ApiException) as raised:
        api.read_namespaced_pod_log(name, namespace)
    assert raised.value.status == 403
    status = json.loads(raised.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        f'pods "{name}" is forbidden: User "system:serviceaccount:opssight:opssight" cannot get '
        f'resource "pods/log" in API group "" in the namespace "{namespace}"'
    )
    assert api.read_namespaced_pod_log(name, namespace, tail_lines=1) == "done\n"  # times=1


def test_401_403_500_surface_as_api_exceptions(clusters: Any, tmp_path: Path) -> None:
    prod, staging, _ = clusters
    wrong = KubeReplay(token="not-the-token", fixtures=False)
    wrong._port = prod._port  # a kubeconfig naming prod's server with a wrong token
    kubeconfig = write_kubeconfig(tmp_path / "wrong", {"prod": wrong})
    with pytest.raises(ApiException) as raised:
        core(kubeconfig).list_node()
    assert raised.value.status == 401
    assert json.loads(raised.value.body)["reason"] == "Unauthorized"

    kubeconfig = write_kubeconfig(tmp_path / "ok", {"prod": prod, "staging": staging})
    prod.set_status("/apis/apps/v1", 403, times=None)
    with pytest.raises(ApiException) as raised:
        apps(kubeconfig).list_deployment_for_all_namespaces()
    assert raised.value.status == 403
    assert json.loads(raised.value.body)["message"] == (
        'deployments is forbidden: User "system:serviceaccount:opssight:opssight" cannot list '
        'resource "deployments" in API group "apps" at the cluster scope'
    )
    assert apps(kubeconfig, "staging").list_deployment_for_all_namespaces().items
    prod.clear_status()
    prod.set_status("/api/v1/pods", 500, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            core(kubeconfig).list_pod_for_all_namespaces()
        assert raised.value.status == 500
    assert core(kubeconfig).list_pod_for_all_namespaces().items
    assert [r.status for r in prod.requests[-4:]] == [403, 500, 500, 200]


def test_down_refuses_or_hangs_then_up(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    assert api.list_node().items  # a kept-alive connection now in the client's pool
    prod.down()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        api.list_node(_request_timeout=1)
    prod.up()
    assert api.list_node().items
    prod.down(hang=True)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        api.list_node(_request_timeout=0.5)
    assert time.monotonic() - started < 5
    prod.up()
    assert api.list_node().items


def test_metrics(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig)))
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert nodes["kind"] == "NodeMetricsList"
    assert {n["metadata"]["name"] for n in nodes["items"]} == {
        n["metadata"]["name"] for n in prod.objects("Node")
    }
    assert all(set(n["usage"]) == {"cpu", "memory"} for n in nodes["items"])
    pods = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "kube-system", "pods")
    assert pods["kind"] == "PodMetricsList" and pods["items"]
    for item in pods["items"]:
        pod = prod.get("Pod", item["metadata"]["name"], "kube-system")
        assert pod["status"]["phase"] == "Running"
        assert [c["name"] for c in item["containers"]] == [
            c["name"] for c in pod["spec"]["containers"]
        ]


def test_ten_thousand_pods_from_one_real_pod() -> None:
    with KubeReplay() as replay:
        replay.add_copies(
            "Pod", ("default", "adservice-f787c8dcd-tb6x2"), 10_000, namespace="bench"
        )
        http = urllib3.PoolManager()
        started = time.monotonic()
        response = http.request(
            "GET",
            f"{replay.url}/api/v1/namespaces/bench/pods?limit=500",
            headers={"Authorization": f"Bearer {replay.token}"},
        )
        page = json.loads(response.data)
        assert len(page["items"]) == 500 and page["metadata"]["remainingItemCount"] == 9500
        assert time.monotonic() - started < 2
        assert len({p["metadata"]["uid"] for p in replay.objects("Pod", "bench")}) == 10_000


def test_namespaced_and_selected_watches_and_exact_list_versions(clusters: Any) -> None:
    prod, _, kubeconfig = clusters
    api = core(kubeconfig)
    version = prod.resource_version
    pod = prod.get("Pod", "stress2", "stress-test")
    threading.Timer(0.2, prod.add, args=("Pod", {**pod, "metadata": {**pod["metadata"]}})).start()
    threading.Timer(
        0.3, prod.delete, args=("Pod", "coredns-7f5998f4c-5fblt", "kube-system")
    ).start()
    events = watch.Watch().stream(
        api.list_namespaced_pod, "stress-test", resource_version=version, timeout_seconds=1
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("MODIFIED", "stress2")]
    events = watch.Watch().stream(
        api.list_pod_for_all_namespaces,
        resource_version=version,
        field_selector="metadata.namespace=kube-system",
        timeout_seconds=1,
    )
    assert [e["type"] for e in events] == ["DELETED"]

    prod.expire("Pod")
    with pytest.raises(ApiException) as raised:
        api.list_pod_for_all_namespaces(resource_version=version, resource_version_match="Exact")
    assert raised.value.status == 410
