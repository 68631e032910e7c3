"""The app's lifespan: migrate, then run each enabled job on its interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

import structlog
from sqlalchemy.exc import IntegrityError

from opssight import db
from opssight.config import get_settings
from opssight.demo import connectors as demo_connectors
from opssight.demo import github as demo_github
from opssight.demo import kubernetes as demo_kubernetes
from opssight.jobs import github as github_job
from opssight.jobs import kubernetes as kubernetes_job
from opssight.jobs.leader import leadership
from opssight.services import dora_links, ingest_writer, metrics, retention
from opssight.services.alerting import evaluator, notify
from opssight.services.auth.passwords import bootstrap_admin
from opssight.services.clusters import forget_demo as forget_demo_clusters
from opssight.services.connectors import forget_demo

log = structlog.get_logger(__name__)

DORA_LINKS_SECONDS = 3600.0
RETENTION_SECONDS = 3600.0
NOTIFY_SECONDS = 5.0  # the granularity of group wait, group interval and retries


class Job(NamedTuple):
    name: str
    interval: float
    run: Callable[[], object]


def _in_session(fn: Callable) -> Callable[[], object]:
    def run() -> object:
        with db.session_scope() as session:
            return fn(session)

    return run


def enabled_jobs() -> list[Job]:
    settings = get_settings()
    # DORA's links follow the configured deploy workflows: rebuilt at start when they changed
    jobs: list[Job] = [
        Job("dora.links", DORA_LINKS_SECONDS, _in_session(dora_links.ensure)),
        # old webhook delivery ids and ETags, deleted in small batches
        Job("retention", RETENTION_SECONDS, _in_session(retention.prune)),
        # OpsSight's alert rules, then each Prometheus source's own rules and alerts
        Job(
            "alerts.evaluate", settings.alert_eval_interval_seconds, _in_session(evaluator.run_pass)
        ),
        # notifications due (grouped, de-duplicated, silenced), then deliveries and retries
        Job("alerts.notify", NOTIFY_SECONDS, _in_session(notify.run_pass)),
    ]
    if settings.demo_enabled:
        interval = settings.demo_interval_seconds
        jobs.append(Job("demo.connectors", interval, _in_session(demo_connectors.feed)))
        github_feed = demo_github.Feed(settings.demo_history_days)
        jobs.append(Job("demo.github", interval, _in_session(github_feed)))
        kube_feed = demo_kubernetes.Feed(interval)
        jobs.append(Job("demo.kubernetes", interval, _in_session(kube_feed)))
    if settings.prometheus_sources or settings.demo_enabled:
        # each source's health on its connector, then open dashboards refresh their panels
        poll = _in_session(metrics.poll)
        jobs.append(Job("metrics.poll", settings.prometheus_refresh_seconds, poll))
    if (settings.github_token or settings.github_app) and (
        settings.repositories or settings.github_org
    ):
        sync = github_job.sync_job(settings)
        jobs.append(Job("github.sync", settings.github_sync_interval_seconds, _in_session(sync)))
    return jobs


async def run_periodic(job: Job) -> None:
    async with leadership(job.name):
        log.info("job.leading", job=job.name)
        while True:
            try:
                await asyncio.to_thread(job.run)
            except Exception:  # a failing pass is logged and retried, never kills the job
                log.exception("job.failed", job=job.name)
            await asyncio.sleep(job.interval)


def _prepare() -> None:
    db.run_migrations()
    settings = get_settings()
    if settings.admin_password is not None:
        with contextlib.suppress(IntegrityError), db.session_scope() as session:
            # several workers start at once: the first one's insert wins, the others see it
            bootstrap_admin(
                session,
                login=settings.admin_login,
                password=settings.admin_password.get_secret_value(),
            )
    if not settings.demo_enabled:
        with db.session_scope() as session:
            forget_demo(session)
            forget_demo_clusters(session)


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """Registered with ``app.register_lifespan_task``: runs before the worker serves."""
    await asyncio.to_thread(_prepare)
    tasks = [
        asyncio.create_task(run_periodic(job), name=f"job:{job.name}") for job in enabled_jobs()
    ]
    settings = get_settings()
    if settings.kubeconfig or settings.kubernetes_service_host:  # one watcher per cluster
        tasks.append(asyncio.create_task(kubernetes_job.run(settings), name="job:kubernetes"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ingest_writer.close_writers()
