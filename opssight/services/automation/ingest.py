"""Batches from the Ansible callback into the automation tables, idempotently.

Runs, plays and tasks are upserted on the uuids the callback made, results on (task, host), so a
spooled batch sent again rewrites the same rows. A batch is one transaction. The recap (the last
batch) ends the run and moves each host's latest result, unless a newer run already did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from opssight.events import Event, get_bus
from opssight.models import (
    AutomationHost,
    AutomationPlay,
    AutomationResult,
    AutomationRun,
    AutomationRunGroup,
    AutomationRunHost,
    AutomationTask,
)
from opssight.models.base import utcnow
from opssight.schemas.automation import AutomationBatch, HostStats
from opssight.schemas.connector import ConnectorCheck
from opssight.services.upsert import insert_new, upsert, upsert_many

TOPIC = "automation"
CONNECTOR = "ansible"
# a task reads as its worst host result; an ignored failure is worse than a change only
SEVERITY = ("skipped", "ok", "changed", "ignored", "unreachable", "failed")


class BadJson(ValueError):
    """The body is not JSON."""


class InvalidBatch(ValueError):
    """JSON, but not a batch of the callback (or one naming plays or tasks never sent)."""


@dataclass(frozen=True)
class Stored:
    run_id: str
    plays: int
    tasks: int
    results: int
    finished: bool


def parse(body: bytes) -> AutomationBatch:
    """The batch from the raw body. Raises BadJson or InvalidBatch."""
    try:
        return AutomationBatch.model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise BadJson(exc.errors()[0]["msg"]) from exc
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidBatch(
            f"not an OpsSight Ansible batch: {exc.error_count()} error(s), "
            f"first at {where or 'body'}: {first['msg']}"
        ) from exc


def host_status(stats: HostStats) -> str:
    if stats.failed:
        return "failed"
    if stats.unreachable:
        return "unreachable"
    return "changed" if stats.changed else "ok"


def _store_run(session: Session, batch: AutomationBatch, demo: bool) -> AutomationRun:
    header = batch.run
    run_id = str(header.id)
    values = header.model_dump(exclude={"id"})
    insert_new(
        session,
        AutomationRun,
        {"id": run_id, **values, "status": "running", "is_demo": demo, "updated_at": utcnow()},
        keys=("id",),
    )
    run = session.get(AutomationRun, run_id, populate_existing=True)
    assert run is not None
    for name, value in values.items():
        if name != "name" or value:  # a late batch never blanks the first play's name
            setattr(run, name, value)
    run.updated_at = utcnow()
    session.add(run)
    return run


def _known(session: Session, model: type[AutomationPlay] | type[AutomationTask], run_id: str,
           ids: set[str]) -> set[str]:  # fmt: skip
    if not ids:
        return set()
    query = select(model.id).where(model.run_id == run_id, col(model.id).in_(ids))
    return set(session.exec(query).all())


def _check_references(session: Session, batch: AutomationBatch, run_id: str) -> None:
    plays = {str(p.id) for p in batch.plays}
    wanted = {str(t.play_id) for t in batch.tasks} - plays
    missing = wanted - _known(session, AutomationPlay, run_id, wanted)
    tasks = {str(t.id) for t in batch.tasks}
    wanted_tasks = {str(r.task_id) for r in batch.results} - tasks
    missing |= wanted_tasks - _known(session, AutomationTask, run_id, wanted_tasks)
    if missing:
        raise InvalidBatch(f"names {len(missing)} play(s) or task(s) of this run never sent")


def _task_statuses(session: Session, task_ids: set[str]) -> None:
    """Each touched task: its worst host result and when its last host finished."""
    if not task_ids:
        return
    rows = session.exec(
        select(
            AutomationResult.task_id,
            AutomationResult.status,
            AutomationResult.ignore_errors,
            AutomationResult.ended_at,
        ).where(col(AutomationResult.task_id).in_(task_ids))
    ).all()
    worst: dict[str, tuple[int, datetime]] = {}
    for task_id, status, ignored, ended in rows:
        rank = SEVERITY.index("ignored" if status == "failed" and ignored else status)
        seen = worst.get(task_id)
        worst[task_id] = (max(rank, seen[0]), max(ended, seen[1])) if seen else (rank, ended)
    for task_id, (rank, ended) in worst.items():
        task = session.get(AutomationTask, task_id)
        if task is not None:
            task.status, task.ended_at = SEVERITY[rank], ended
            session.add(task)


def _finish(session: Session, run: AutomationRun, batch: AutomationBatch) -> None:
    stats = batch.stats
    assert stats is not None
    failed = any(h.failed or h.unreachable for h in stats.hosts.values())
    run.status, run.ended_at = ("failed" if failed else "ok"), stats.ended_at
    run.duration_s = max(0.0, (stats.ended_at - batch.run.started_at).total_seconds())
    session.add(run)
    for host, counts in stats.hosts.items():
        figures = counts.model_dump(exclude={"groups"})
        upsert(
            session,
            AutomationRunHost,
            {"run_id": run.id, "host": host, **figures, "groups": counts.groups},
            keys=("run_id", "host"),
        )
        for group in counts.groups:
            insert_new(session, AutomationRunGroup, {"run_id": run.id, "group": group},
                       keys=("run_id", "group"))  # fmt: skip
        latest = {k: v for k, v in figures.items() if k not in ("rescued", "ignored")}
        upsert(
            session,
            AutomationHost,
            {
                "name": host,
                "last_run_id": run.id,
                "last_status": host_status(counts),
                "last_seen_at": stats.ended_at,
                "groups": counts.groups,
                **latest,
            },
            keys=("name",),
            unless_newer="last_seen_at",
        )


def store(session: Session, batch: AutomationBatch, *, demo: bool = False) -> Stored:
    """Write one batch and commit (raises InvalidBatch for a batch naming unknown parents)."""
    run = _store_run(session, batch, demo)
    _check_references(session, batch, run.id)
    upsert_many(
        session,
        AutomationPlay,
        [{**p.model_dump(), "id": str(p.id), "run_id": run.id} for p in batch.plays],
        keys=("id",),
    )
    upsert_many(
        session,
        AutomationTask,
        [
            {**t.model_dump(), "id": str(t.id), "play_id": str(t.play_id), "run_id": run.id}
            for t in batch.tasks
        ],
        keys=("id",),
    )
    results = {(str(r.task_id), r.host): r for r in batch.results}  # a key once per statement
    upsert_many(
        session,
        AutomationResult,
        [
            {**r.model_dump(), "task_id": task_id, "run_id": run.id}
            for (task_id, _), r in results.items()
        ],
        keys=("task_id", "host", "ended_at"),  # ended_at: the partition key (models.history)
    )
    _task_statuses(session, {task_id for task_id, _ in results})
    if batch.stats is not None:
        _finish(session, run, batch)
    session.commit()
    get_bus().publish(Event(topic=TOPIC, keys={"run": run.id}))
    return Stored(run.id, len(batch.plays), len(batch.tasks), len(results), batch.stats is not None)


def receipt_check(batch: AutomationBatch, *, demo: bool = False) -> ConnectorCheck:
    """The ``ansible`` connector after an accepted batch: which run, from where, and when."""
    run = batch.run
    return ConnectorCheck(
        name=CONNECTOR,
        kind="ansible",
        state="ok",
        is_demo=demo,
        detail=f"Last batch: {len(batch.results)} result(s) of {run.name or run.playbook}"[:500],
        facts={
            "Last batch": utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"),
            "Playbook": run.playbook[-200:],
            "Controller": f"{run.user}@{run.controller}"[:200],
            "Ansible": run.ansible_version,
        },
    )


def forget_demo(session: Session) -> int:
    """Drop the demo runs (their plays, tasks and results go with them) and the hosts last seen
    in one, once demo data is off; returns how many runs went."""
    demo_runs = select(AutomationRun.id).where(col(AutomationRun.is_demo))
    session.exec(delete(AutomationHost).where(col(AutomationHost.last_run_id).in_(demo_runs)))
    gone = session.exec(delete(AutomationRun).where(col(AutomationRun.is_demo))).rowcount
    session.commit()
    if gone:
        get_bus().publish(Event(topic=TOPIC, keys={"run": "*"}))
    return gone
