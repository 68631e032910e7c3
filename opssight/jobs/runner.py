"""The app's lifespan: migrate, then run each enabled job on its interval."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, NamedTuple

import structlog
from sqlalchemy.exc import IntegrityError

from opssight import db, routes, tracing
from opssight.config import Settings, get_settings
from opssight.demo import alerts as demo_alerts
from opssight.demo import ansible as demo_ansible
from opssight.demo import connectors as demo_connectors
from opssight.demo import github as demo_github
from opssight.demo import kubernetes as demo_kubernetes
from opssight.jobs import github as github_job
from opssight.jobs import kubernetes as kubernetes_job
from opssight.jobs.leader import lead
from opssight.services import (
    demo_repositories,
    dora_links,
    history_retention,
    ingest_writer,
    metrics,
    retention,
    source_config,
)
from opssight.services.alerting import evaluator, history, notify
from opssight.services.auth import first_admin
from opssight.services.auth.passwords import bootstrap_admin
from opssight.services.automation import ingest as automation_ingest
from opssight.services.clusters import forget_demo as forget_demo_clusters
from opssight.services.connectors import forget_demo
from opssight.services.source_config import SourceConfig

log = structlog.get_logger(__name__)

DORA_LINKS_SECONDS = 3600.0
RETENTION_SECONDS = 3600.0
PARTITIONS_SECONDS = 86400.0
NOTIFY_SECONDS = 5.0  # the granularity of group wait, group interval and retries
RELOAD_SECONDS = 5.0  # how soon a connection saved in Settings starts (or stops) its jobs


class Job(NamedTuple):
    name: str
    interval: float
    run: Callable[[], object]


class Planned(NamedTuple):
    """A job the configuration asks for; ``version`` changes when its configuration does."""

    name: str
    version: str
    start: Callable[[], Coroutine[Any, Any, None]]


def _in_session(fn: Callable) -> Callable[[], object]:
    def run() -> object:
        with db.session_scope() as session:
            return fn(session)

    return run


def _periodic(name: str, interval: float, run: Callable[[], object], version: str = "") -> Planned:
    return Planned(name, version, lambda: run_periodic(Job(name, interval, run)))


def planned_jobs(config: SourceConfig, settings: Settings) -> list[Planned]:
    """The jobs to run for this configuration (environment, then Settings → Connections)."""
    jobs = [
        # DORA's links follow the configured deploy workflows: rebuilt at start when they changed
        _periodic("dora.links", DORA_LINKS_SECONDS, _in_session(dora_links.ensure)),
        # old webhook delivery ids and ETags, deleted in small batches
        _periodic("retention", RETENTION_SECONDS, _in_session(retention.prune)),
        # history tables (PostgreSQL): months created ahead, expired months rolled up and dropped
        _periodic("partitions", PARTITIONS_SECONDS, _in_session(history_retention.maintain)),
        # OpsSight's alert rules, then each Prometheus source's own rules and alerts
        _periodic(
            "alerts.evaluate", settings.alert_eval_interval_seconds, _in_session(evaluator.run_pass)
        ),
        # notifications due (grouped, de-duplicated, silenced), then deliveries and retries
        _periodic("alerts.notify", NOTIFY_SECONDS, _in_session(notify.run_pass)),
    ]
    if config.demo:
        interval = settings.demo_interval_seconds
        jobs.append(_periodic("demo.connectors", interval, _in_session(demo_connectors.feed)))
        github_feed = demo_github.Feed(settings.demo_history_days)
        jobs.append(_periodic("demo.github", interval, _in_session(github_feed)))
        kube_feed = demo_kubernetes.Feed(interval)
        jobs.append(_periodic("demo.kubernetes", interval, _in_session(kube_feed)))
        jobs.append(_periodic("demo.ansible", interval, _in_session(demo_ansible.Feed())))
        jobs.append(_periodic("demo.alerts", interval, _in_session(demo_alerts.Feed())))
    if config.prometheus or config.demo:
        # each source's health on its connector, then open dashboards refresh their panels
        poll = _in_session(metrics.poll)
        jobs.append(_periodic("metrics.poll", settings.prometheus_refresh_seconds, poll))
    github = config.github
    if github is not None and (github.repositories or github.organisation):
        sync = _in_session(github_job.sync_job(github, settings))
        interval = settings.github_sync_interval_seconds
        jobs.append(_periodic("github.sync", interval, sync, config.fingerprint("github")))
    kube = config.kubernetes
    if kube is not None:  # one watcher per cluster
        version = config.fingerprint("kubernetes")
        jobs.append(Planned("kubernetes", version, lambda: kubernetes_job.run(kube, settings)))
    return jobs


async def run_periodic(job: Job) -> None:
    """Run ``job`` on its interval while this worker leads it (once across workers)."""

    async def passes() -> None:
        while True:
            try:
                with tracing.span(f"job {job.name}"):
                    await asyncio.to_thread(job.run)
            except Exception:  # a failing pass is logged and retried, never kills the job
                log.exception("job.failed", job=job.name)
            await asyncio.sleep(job.interval)

    await lead(job.name, passes)


def _sign_in_url(settings: Settings) -> str:
    """The public URL when one is set, else this machine's port."""
    explicit = "public_url" in settings.model_fields_set
    base = settings.public_url if explicit else f"http://localhost:{settings.port}"
    return f"{base}{routes.LOGIN.path}"


def _prepare() -> None:
    db.run_migrations()
    settings = get_settings()
    created = None
    # several workers start at once: the first one's insert wins, the others see it
    with contextlib.suppress(IntegrityError), db.session_scope() as session:
        if settings.admin_password is not None:
            bootstrap_admin(
                session,
                login=settings.admin_login,
                password=settings.admin_password.get_secret_value(),
            )
        else:  # while no one can administer, an admin with a random password, shown once
            created = first_admin.create(
                session, login=settings.admin_login, data_dir=settings.data_dir
            )
    if created is not None:  # on the console only: never in the structured log
        print(
            first_admin.announcement(created, _sign_in_url(settings)), file=sys.stderr, flush=True
        )


def _load() -> SourceConfig:
    """The configuration as saved now; demo rows are dropped once demo data is off."""
    source_config.invalidate()
    config = source_config.current()
    if not config.demo:
        with db.session_scope() as session:
            forget_demo(session)
            forget_demo_clusters(session)
            history.forget_source(session, demo_alerts.SOURCE)
            automation_ingest.forget_demo(session)
            demo_repositories.forget_demo(session, config.github)
    return config


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def supervise() -> None:
    """Run the jobs the configuration asks for, and follow its changes: every
    ``RELOAD_SECONDS`` a job no longer wanted, or whose configuration changed, is stopped (its
    leader lock released) and new ones start. Each runs once across workers (leader locks)."""
    settings = get_settings()
    running: dict[str, tuple[str, asyncio.Task]] = {}
    try:
        while True:
            try:
                config = await asyncio.to_thread(_load)
            except Exception:  # database away or unreadable secrets: keep what runs
                log.exception("jobs.config_failed")
            else:
                wanted = {job.name: job for job in planned_jobs(config, settings)}
                for name, (version, task) in list(running.items()):
                    if name not in wanted or wanted[name].version != version:
                        log.info("job.stopped", job=name)
                        await _stop(task)
                        del running[name]
                for name, job in wanted.items():
                    if name not in running:
                        task = asyncio.create_task(job.start(), name=f"job:{name}")
                        running[name] = (job.version, task)
            await asyncio.sleep(RELOAD_SECONDS)
    finally:
        await asyncio.gather(*(_stop(task) for _, task in running.values()))


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """Registered with ``app.register_lifespan_task``: runs before the worker serves."""
    await asyncio.to_thread(_prepare)
    supervisor = asyncio.create_task(supervise(), name="jobs")
    try:
        yield
    finally:
        await _stop(supervisor)
        await ingest_writer.close_writers()
