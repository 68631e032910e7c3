"""Live clusters through the official client: two replay API servers reached through a real
kubeconfig, list then watch into the database (SQLite and PostgreSQL), 410 relists, outages,
401/403, pod logs, metrics, and the watcher job."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from opssight import db
from opssight.config import get_settings
from opssight.integrations import kubernetes as kube
from opssight.jobs import kubernetes as kubernetes_job
from opssight.models import ConnectorStatus, KubeCluster, KubePod
from opssight.schemas.kubernetes import KubeFilter
from opssight.services import clusters, kube_queries
from opssight.services.source_config import KubeConfig
from tests.replay.kubernetes import KubeReplay, write_kubeconfig

CRASHLOOP = ("scraper", "e2e-container-creating")


@pytest.fixture
def replays(tmp_path: Path) -> Iterator[tuple[KubeReplay, KubeReplay, Path]]:
    with KubeReplay() as prod, KubeReplay(token="staging-token") as staging:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"prod": prod, "staging": staging})
        yield prod, staging, path


@contextmanager
def sources(kubeconfig: Path, url: str) -> Iterator[dict[str, kube.ClusterSource]]:
    """A running source per context, registered in the database; stopped on exit."""
    found = kube.load_clusters(str(kubeconfig), request_timeout=2)
    running = {
        c.name: kube.ClusterSource(
            c, watch_timeout=5, backoff_start=0.05, backoff_max=0.3, metrics_interval=0.5
        )
        for c in found
    }
    with db.session_scope(url) as session:
        for cluster in found:
            clusters.register(session, cluster.name, cluster.server)
    for source in running.values():
        source.start()
    try:
        yield running
    finally:
        for source in running.values():
            source.stop()


def until(
    running: dict[str, kube.ClusterSource],
    url: str,
    check: Callable[[Session], bool],
    timeout: float = 10.0,
) -> None:
    """Feed what the sources report into the service until ``check`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, source in running.items():
            batch = source.take(0.05)
            if batch:
                with db.session_scope(url) as session:
                    clusters.apply(session, name, batch)
        with db.session_scope(url) as session:
            if check(session):
                return
    raise AssertionError("the database never reached the expected state")


def pods(session: Session, cluster: str) -> dict[tuple[str, str], str]:
    rows = session.exec(
        select(KubePod.namespace, KubePod.name, KubePod.uid).where(KubePod.cluster == cluster)
    ).all()
    return {(ns, name): uid for ns, name, uid in rows}


def pod_count(session: Session, cluster: str) -> int:
    query = select(func.count()).select_from(KubePod).where(KubePod.cluster == cluster)
    return session.exec(query).one()


def served(replay: KubeReplay) -> dict[tuple[str, str], str]:
    return {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p["metadata"]["uid"]
        for p in replay.objects("Pod")
    }


def state(session: Session, cluster: str) -> tuple[str, str | None]:
    row = session.get(KubeCluster, cluster)
    assert row is not None
    return row.state, row.error


def test_kubeconfig_contexts_are_the_clusters(replays: tuple) -> None:
    prod, staging, kubeconfig = replays
    found = kube.load_clusters(str(kubeconfig))
    assert [(c.name, c.server) for c in found] == [("prod", prod.url), ("staging", staging.url)]


def test_list_then_watch_reaches_the_database(replays: tuple, database_url: str) -> None:
    prod, _, kubeconfig = replays
    with sources(kubeconfig, database_url) as running:
        until(running, database_url, lambda s: state(s, "prod") == ("ok", None))
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))
        with db.session_scope(database_url) as session:
            names = {(p.kind, p.name) for p in kube_queries.problems(session, "prod")}
            assert ("CrashLoopBackOff", "e2e-container-creating") in names
            row = session.get(KubeCluster, "prod")
            assert row is not None and row.resource_versions["Pod"].isdigit()

        [copy] = prod.add_copies("Pod", CRASHLOOP, 1)
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))

        def running_now(pod: dict) -> None:
            pod["status"]["containerStatuses"][0]["state"] = {"running": {}}

        prod.modify("Pod", copy["metadata"]["name"], "scraper", running_now)
        until(
            running,
            database_url,
            lambda s: (
                kube_queries.list_pods(s, KubeFilter(search=copy["metadata"]["name"]))
                .rows[0]
                .reason
                is None
            ),
        )
        prod.delete("Pod", copy["metadata"]["name"], "scraper")
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))
        prod.bookmark()  # bookmarks only move the resourceVersion
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))


def test_410_relists_without_losing_or_duplicating(replays: tuple, database_url: str) -> None:
    prod, _, kubeconfig = replays
    with sources(kubeconfig, database_url) as running:
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))
        # away: the watch is cut, objects change, the history is compacted
        prod.down()
        gone = sorted(served(prod))[0]
        prod.delete("Pod", gone[1], gone[0])
        prod.add_copies("Pod", CRASHLOOP, 3)
        prod.expire("Pod")
        prod.up()
        until(running, database_url, lambda s: pods(s, "prod") == served(prod), timeout=15)
        with db.session_scope(database_url) as session:
            assert pod_count(session, "prod") == len(served(prod))
            assert gone not in pods(session, "prod")
        # an open watch that gets the ERROR 410 event relists too
        prod.add_copies("Pod", CRASHLOOP, 1, name=lambda i: f"late-{i}")
        prod.expire("Pod", open_watches=True)
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))
        assert any(r.path == "/api/v1/pods" and "watch" not in r.query for r in prod.requests[-20:])


def test_one_cluster_refused_or_down_while_the_other_stays_live(
    replays: tuple, database_url: str
) -> None:
    prod, staging, kubeconfig = replays
    staging.set_status("/api", 401, times=None)
    with sources(kubeconfig, database_url) as running:
        until(
            running,
            database_url,
            lambda s: state(s, "staging")[0] == "unauthorized" and state(s, "prod")[0] == "ok",
        )
        with db.session_scope(database_url) as session:
            _, error = state(session, "staging")
            assert error is not None and "401 Unauthorized: Unauthorized" in error
            connector = session.get(ConnectorStatus, "kubernetes:staging")
            assert connector is not None and connector.state == "down"
        [copy] = prod.add_copies("Pod", CRASHLOOP, 1)
        until(
            running,
            database_url,
            lambda s: (copy["metadata"]["name"]) in {n for _, n in pods(s, "prod")},
        )

        staging.clear_status()
        until(running, database_url, lambda s: state(s, "staging") == ("ok", None))
        staging.down()
        until(running, database_url, lambda s: state(s, "staging")[0] == "unreachable")
        with db.session_scope(database_url) as session:
            assert "cannot reach" in (state(session, "staging")[1] or "")
        prod.delete("Pod", copy["metadata"]["name"], "scraper")
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))
        staging.up()
        until(running, database_url, lambda s: state(s, "staging") == ("ok", None), timeout=15)


def test_a_cluster_that_stops_answering_times_out(replays: tuple, database_url: str) -> None:
    prod, staging, kubeconfig = replays
    with sources(kubeconfig, database_url) as running:
        until(running, database_url, lambda s: state(s, "staging") == ("ok", None))
        staging.down(hang=True)  # noticed after the watch timeout plus the request timeout
        until(running, database_url, lambda s: state(s, "staging")[0] == "unreachable", 15)
        with db.session_scope(database_url) as session:
            assert "timed out talking to" in (state(session, "staging")[1] or "")
        [copy] = prod.add_copies("Pod", CRASHLOOP, 1)
        until(running, database_url, lambda s: pods(s, "prod") == served(prod))
        assert copy["metadata"]["uid"] in pods_uids(database_url)
        staging.up()
        until(running, database_url, lambda s: state(s, "staging") == ("ok", None), timeout=15)


def pods_uids(url: str) -> set[str]:
    with db.session_scope(url) as session:
        return set(pods(session, "prod").values())


def test_forbidden_kind_names_the_resource(replays: tuple, database_url: str) -> None:
    _, staging, kubeconfig = replays
    staging.set_status("/api/v1/events", 403, times=None)
    with sources(kubeconfig, database_url) as running:
        until(running, database_url, lambda s: state(s, "staging")[0] == "forbidden")
        with db.session_scope(database_url) as session:
            error = state(session, "staging")[1] or ""
        assert error.startswith("/api/v1/events: 403 Forbidden:")
        assert "cannot list resource" in error


def test_pod_logs_and_the_403_wording(replays: tuple) -> None:
    prod, _, kubeconfig = replays
    [cluster, _] = kube.load_clusters(str(kubeconfig))
    prod.set_log(*CRASHLOOP, ["one", "two", "three"])
    prod.set_log(*CRASHLOOP, ["crashed"], previous=True)
    assert kube.pod_logs(cluster, *CRASHLOOP, tail_lines=2) == "two\nthree\n"
    assert kube.pod_logs(cluster, *CRASHLOOP, previous=True) == "crashed\n"
    prod.set_status("/api/v1/namespaces/scraper/pods/e2e-container-creating/log", 403)
    with pytest.raises(kube.KubeError) as refused:
        kube.pod_logs(cluster, *CRASHLOOP)
    assert refused.value.state == "forbidden"
    assert refused.value.message == (
        "the service account may not read the logs of pod scraper/e2e-container-creating "
        "(403 Forbidden)"
    )


def test_pod_logs_through_the_service(
    replays: tuple, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod, _, kubeconfig = replays
    monkeypatch.setenv("OPSSIGHT_KUBECONFIG", str(kubeconfig))
    get_settings.cache_clear()
    prod.set_log(*CRASHLOOP, ["ready"])
    assert clusters.pod_logs(session, "prod", *CRASHLOOP) == "ready\n"
    with pytest.raises(kube.KubeError, match="no cluster named 'elsewhere' is configured"):
        clusters.pod_logs(session, "elsewhere", *CRASHLOOP)
    clusters.register(session, "demo-eks", is_demo=True)
    with pytest.raises(kube.KubeError, match="the demo cluster has no logs"):
        clusters.pod_logs(session, "demo-eks", *CRASHLOOP)


def test_in_cluster_without_a_service_account_is_an_error_cluster() -> None:
    [cluster] = kube.load_clusters(None, in_cluster=True)
    assert (cluster.name, cluster.api) == ("in-cluster", None)
    assert cluster.error is not None and cluster.error.startswith("in-cluster configuration:")
    source = kube.ClusterSource(cluster)
    source.start()
    assert source.take(0.1) == [kube.Health("error", cluster.error)]


def test_metrics_usage_when_served(replays: tuple, database_url: str) -> None:
    prod, _, kubeconfig = replays
    with sources(kubeconfig, database_url) as running:
        until(
            running,
            database_url,
            lambda s: all(n.cpu_usage_m is not None for n in kube_queries.list_nodes(s, "prod")),
        )
        with db.session_scope(database_url) as session:
            [summary, _] = kube_queries.clusters(session)
            assert summary.cpu_usage_m and summary.cpu_usage_m > 0
    prod.set_status("/apis/metrics.k8s.io", 404, times=None)
    [cluster, _] = kube.load_clusters(str(kubeconfig))
    assert kube.read_usage(cluster) == kube.Usage(None, None)


async def test_the_job_watches_every_context(
    replays: tuple, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, kubeconfig = replays
    monkeypatch.setenv("OPSSIGHT_KUBECONFIG", str(kubeconfig))
    get_settings.cache_clear()
    with db.session_scope(database_url) as session:
        clusters.register(session, "removed-from-kubeconfig")
    config = KubeConfig("environment", str(kubeconfig), (), in_cluster=False)
    task = asyncio.create_task(kubernetes_job.run(config, get_settings()))
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            with db.session_scope(database_url) as session:
                summaries = {c.name: c for c in kube_queries.clusters(session)}
            if all(c.state == "ok" for c in summaries.values()) and set(summaries) == {
                "prod",
                "staging",
            }:
                break
        assert {n: c.state for n, c in summaries.items()} == {"prod": "ok", "staging": "ok"}
        assert summaries["prod"].pods_by_phase.get("Running", 0) > 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("kube:")]
