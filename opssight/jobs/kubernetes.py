"""Kubernetes watchers: one per cluster across all workers (a leader lock per cluster).

The leader of ``kubernetes:<cluster>`` runs the cluster's ``ClusterSource`` (list + watch
threads) and hands what it reports, batch by batch, to ``services.clusters.apply`` in a worker
thread; a batch that could not be written is retried with the next one (the writes are
idempotent). Cancelling the task stops the source's threads.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from sqlmodel import select

from opssight import db
from opssight.config import Settings
from opssight.integrations import kubernetes as kube
from opssight.jobs.leader import lead
from opssight.models.kubernetes import KubeCluster
from opssight.services import clusters
from opssight.services.source_config import KubeConfig

log = structlog.get_logger(__name__)

TAKE_SECONDS = 0.2  # how long a take waits for the first change
RECHECK_SECONDS = 30.0  # Pending pods become "unschedulable" problems with time alone
RETRY_SECONDS = 2.0


def _prepare(found: list[kube.Cluster]) -> None:
    """Register the configured clusters and forget real ones no longer configured."""
    with db.session_scope() as session:
        names = {c.name for c in found}
        stored = session.exec(select(KubeCluster.name).where(~KubeCluster.is_demo)).all()
        clusters.forget(session, [name for name in stored if name not in names])
        for cluster in found:
            clusters.register(session, cluster.name, cluster.server)


def _apply(name: str, batch: list[kube.Change]) -> None:
    with db.session_scope() as session:
        clusters.apply(session, name, batch)


def _recheck(name: str) -> None:
    with db.session_scope() as session:
        clusters.recheck(session, name)


async def watch(cluster: kube.Cluster, settings: Settings) -> None:
    """Lead this cluster's watcher (waiting for the lock), until cancelled."""
    await lead(f"kubernetes:{cluster.name}", lambda: _watch(cluster, settings))


async def _watch(cluster: kube.Cluster, settings: Settings) -> None:
    log.info("kube.watching", cluster=cluster.name, server=cluster.server)
    source = kube.ClusterSource(
        cluster,
        watch_timeout=settings.kube_watch_timeout_seconds,
        backoff_max=settings.kube_backoff_max_seconds,
        metrics_interval=settings.kube_metrics_interval_seconds,
    )
    source.start()
    pending: list[kube.Change] = []
    recheck_at = time.monotonic() + RECHECK_SECONDS
    try:
        while True:
            pending += await asyncio.to_thread(source.take, TAKE_SECONDS)
            try:
                if pending:
                    await asyncio.to_thread(_apply, cluster.name, pending)
                    pending = []
                if time.monotonic() >= recheck_at:
                    await asyncio.to_thread(_recheck, cluster.name)
                    recheck_at = time.monotonic() + RECHECK_SECONDS
            except Exception:  # the database is away: keep the batch, try again
                log.exception("kube.write_failed", cluster=cluster.name, pending=len(pending))
                await asyncio.sleep(RETRY_SECONDS)
    finally:
        await asyncio.to_thread(source.stop)


async def run(config: KubeConfig, settings: Settings) -> None:
    """Watch every configured cluster, each under its own leader lock, until cancelled."""
    try:
        found = await asyncio.to_thread(clusters.configured, config)
    except kube.KubeError as exc:
        log.error("kube.config_failed", error=exc.message)
        return
    await asyncio.to_thread(_prepare, found)
    watchers = [asyncio.create_task(watch(c, settings), name=f"kube:{c.name}") for c in found]
    try:
        await asyncio.gather(*watchers)
    finally:  # a cancelled gather returns at the first cancelled watcher: wait for them all
        for watcher in watchers:
            if not watcher.cancelling():  # a second cancel would cut its stop short
                watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
