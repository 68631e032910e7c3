"""Kubernetes ingest at 10,000 pods: list ingest, watch event → DB → bus latency, pods page.

The pods are copies of one real pod (nri-kubernetes' kubelet PodList, the pod in
CrashLoopBackOff), each with its own name and uid. Two measurements:

- service only: ``services.clusters.apply`` of the 10,000-pod list (one transaction), then again
  (the same list: every row rewritten, nothing added);
- end to end: the replay API server (tests/replay/kubernetes.py) serves the pods; the real watcher
  job (``jobs.kubernetes.watch``: official client, paged list, watch, one transaction per batch)
  ingests them; then ``--events`` pod modifications, one at a time, each timed from the change
  on the server to its ``kubernetes`` bus event (after the commit);

then ``kube_queries.list_pods`` for a first page, a far page, a namespace and a search (median
of 20). Prints the figures for each database URL given (default: a scratch SQLite file).

    .venv/bin/python bench/kube_ingest.py [URL ...] [--pods 10000] [--events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import make_url
from sqlmodel import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opssight import db, events
from opssight.config import get_settings
from opssight.demo.recordings import load
from opssight.integrations import kubernetes as kube
from opssight.jobs import kubernetes as kubernetes_job
from opssight.models import KubePod
from opssight.schemas.kubernetes import KubeFilter
from opssight.services import clusters, kube_queries
from tests.replay.kubernetes import KubeReplay, write_kubeconfig

RECORDING = "kubernetes.nri-kubernetes.kubelet-pods.podlist.v1.34.crashloopbackoff.json"
TEMPLATE = "e2e-container-creating"
NAMESPACES = 20


def pods(count: int) -> list[dict[str, Any]]:
    """``count`` copies of the real pod, spread over ``NAMESPACES`` namespaces."""
    template = next(p for p in load(RECORDING)["items"] if p["metadata"]["name"] == TEMPLATE)
    made = []
    for index in range(count):
        pod = copy.deepcopy(template)
        pod["metadata"].update(
            name=f"{TEMPLATE}-{index:05d}",
            uid=str(uuid.UUID(int=index + 1)),
            namespace=f"team-{index % NAMESPACES:02d}",
        )
        made.append({**pod, "kind": "Pod"})
    return made


def fresh_database(url: str) -> str:
    """A migrated scratch database on the server ``url`` names (or a new SQLite file)."""
    if url.startswith("sqlite"):
        path = Path(tempfile.mkdtemp()) / "kube_bench.db"
        url = f"sqlite:///{path}"
    else:
        admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS opssight_bench_kube WITH (FORCE)")
            conn.execute("CREATE DATABASE opssight_bench_kube")
        url = make_url(url).set(database="opssight_bench_kube").render_as_string(False)
    db.run_migrations(url)
    return url


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def pod_count(url: str) -> int:
    with db.session_scope(url) as session:
        return session.exec(select(func.count()).select_from(KubePod)).one()


def service_only(url: str, count: int) -> None:
    made = pods(count)
    with db.session_scope(url) as session:
        clusters.register(session, "bench")
        listed = [kube.Listed("Pod", made, "1")]
        first = timed(lambda: clusters.apply(session, "bench", listed))
        again = timed(lambda: clusters.apply(session, "bench", listed))
    print(f"  service: list of {count:,} pods ingested in {first:,.0f} ms; same list again "
          f"{again:,.0f} ms ({count / first * 1000:,.0f} pods/s)")  # fmt: skip


def queries(url: str) -> None:
    with db.session_scope(url) as session:
        total = kube_queries.list_pods(session, KubeFilter()).total
        cases = {
            "first page": KubeFilter(),
            "page 100": KubeFilter(page=100),
            "one namespace": KubeFilter(namespace="team-07"),
            "search": KubeFilter(search="-0999"),
        }
        for label, f in cases.items():
            runs = [timed(lambda f=f: kube_queries.list_pods(session, f)) for _ in range(20)]
            print(f"  list_pods {label:<14} {statistics.median(runs):6.1f} ms "
                  f"(median of 20, {total:,} pods)")  # fmt: skip


async def end_to_end(url: str, count: int, changes: int) -> None:
    with KubeReplay(fixtures=False) as replay:
        for pod in pods(count):
            replay.add("Pod", pod)
        kubeconfig = write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig", {"live": replay})
        os.environ["OPSSIGHT_DATABASE_URL"] = url
        os.environ["OPSSIGHT_KUBECONFIG"] = str(kubeconfig)
        get_settings.cache_clear()
        db.get_engine.cache_clear()
        events.get_bus.cache_clear()
        [cluster] = kube.load_clusters(str(kubeconfig))
        with db.session_scope(url) as session:
            clusters.register(session, "live", cluster.server)
        latencies: list[float] = []
        async with events.get_bus().subscribe("kubernetes") as subscription:
            started = time.perf_counter()
            task = asyncio.create_task(kubernetes_job.watch(cluster, get_settings()))
            while (await asyncio.to_thread(pod_count, url)) < 2 * count:
                await asyncio.sleep(0.05)
            listed = (time.perf_counter() - started) * 1000
            while not subscription.queue.empty():
                subscription.queue.get_nowait()
            for index in range(changes):
                name = f"{TEMPLATE}-{index:05d}"

                def restart(pod: dict[str, Any], n: int = index) -> None:
                    pod["status"]["containerStatuses"][0]["restartCount"] = 3 + n

                sent = time.perf_counter()
                replay.modify("Pod", name, f"team-{index % NAMESPACES:02d}", restart)
                while True:
                    event = await asyncio.wait_for(subscription.queue.get(), 10)
                    if "Pod" in event.keys.get("kinds", "").split(","):
                        break
                latencies.append((time.perf_counter() - sent) * 1000)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"  end to end: {count:,} pods listed over HTTP (pages of 500) and ingested in "
          f"{listed:,.0f} ms")  # fmt: skip
    print(f"  watch event -> DB -> bus: p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms ({changes} events, one at a time)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="*", default=["sqlite://"])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    for given in args.urls:
        url = fresh_database(given)
        print(f"{make_url(url).get_backend_name()}:")
        service_only(url, args.pods)
        asyncio.run(end_to_end(url, args.pods, args.events))
        queries(url)


if __name__ == "__main__":
    main()
