"""Group commit for webhook deliveries: many concurrent deliveries, one transaction.

The route verifies and parses a delivery in its async handler, then ``await
get_writer().submit(delivery)``. On PostgreSQL, ``BatchWriter`` (one per event loop and database)
takes whatever is queued when it is free (no waiting window), de-duplicates the batch and writes
it with ONE statement on an async psycopg connection (autocommit: the statement is the
transaction, one round trip). That statement inserts the ``webhook_delivery`` rows (``ON CONFLICT
DO NOTHING RETURNING id``) and upserts the rows of only the deliveries that were new, with the
keys and out-of-order guards of ``services.pipelines.Target``; several versions of one row in a
batch are reduced to the one the one-by-one path would leave (the newest by the guard, the last of
equals). A batch carrying deployment statuses appends the deployment summary (lock, then
``UPDATE``) as further statements of the same simple query: still one round trip and one
transaction. A batch whose new deliveries touch DORA's links (deployments, deploy workflow runs,
merged pull requests, incidents) runs in an explicit transaction and, after that statement,
recomputes them with ``services.dora_links.refresh_steps``: the same SQL as the one-by-one path. Each caller is answered after the commit ("stored" or "duplicate"); then one bus
event per (topic, keys) is published. A failed batch stores nothing and fails every caller with
``WriterUnavailable`` (the route answers 503; the sender retries); the writer reconnects for the
next batch. A row that does not fit (a data or constraint error) fails only its own delivery:
the batch is retried one delivery per transaction.

On SQLite (the embedded default, one worker, low volume) ``ThreadWriter`` stores each delivery
with ``services.webhooks.store`` in a worker thread: the same rows, one transaction each.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
import pydantic_core
import sqlalchemy as sa
import structlog
from sqlalchemy import make_url
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import Executable

from opssight import db
from opssight.config import get_settings
from opssight.events import Event, get_bus
from opssight.services import dora_links, incidents, pipelines, webhooks
from opssight.services.webhooks import Delivery, Outcome

log = structlog.get_logger(__name__)

MAX_BATCH = 500  # deliveries per statement
LANES = 1  # batches in flight at once, one connection each (more helps a distant database)
QUEUE_SIZE = 10_000  # queued deliveries per process before answering 503 at once
CONNECT_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_MS = 10_000
BATCH_TIMEOUT_SECONDS = 15.0
IDLE_CHECK_SECONDS = 30.0  # a connection idle this long is pinged before use

# the order of the tables in the statement (the same lock order in every batch)
ORDER = (
    pipelines.REPOSITORY,
    pipelines.WORKFLOW_RUN,
    pipelines.WORKFLOW_JOB,
    pipelines.PULL_REQUEST,
    pipelines.DEPLOYMENT_STATUS,
    pipelines.DEPLOYMENT,
    incidents.INCIDENT,
)


class WriterUnavailable(RuntimeError):
    """The delivery could not be committed now (database down, batch failed): answer 503."""


class Writer(Protocol):
    async def submit(self, delivery: Delivery) -> Outcome: ...

    async def aclose(self) -> None: ...


class ThreadWriter:
    """One session per delivery in a worker thread (SQLite): the sequential path."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _store(self, delivery: Delivery) -> Outcome:
        with db.session_scope(self.url) as session:
            return webhooks.store(session, delivery)

    async def submit(self, delivery: Delivery) -> Outcome:
        try:
            return await asyncio.to_thread(self._store, delivery)
        except SQLAlchemyError as exc:
            log.error("webhook.store_failed", delivery=delivery.id, error=str(exc))
            raise WriterUnavailable(str(exc)) from exc

    async def aclose(self) -> None:
        pass


# ---------- the statement ----------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_type(column: sa.Column) -> str:
    """The recordset type of a column: base types only, so an over-long string fails on the
    INSERT into the table (as on the sequential path) instead of being truncated by a cast."""
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.String):
        return "text"
    if isinstance(kind, sa.DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, sa.BigInteger):
        return "bigint"
    if isinstance(kind, sa.Integer):
        return "integer"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    raise TypeError(f"no recordset type for {column.table.name}.{column.name}: {kind!r}")


def _list(columns: Iterable[str], prefix: str = "") -> str:
    return ", ".join(prefix + _ident(c) for c in columns)


def _recordset(param: str, table: sa.Table, columns: Iterable[str], *, tagged: bool) -> str:
    defs = ", ".join(f"{_ident(c)} {_sql_type(table.c[c])}" for c in columns)
    tags = "_ord integer, _delivery text, " if tagged else ""
    return f"json_to_recordset(%({param})s::json) AS r({tags}{defs})"


# The SQL twin of ``pipelines.summarize_deployment``: the latest status by (created_at, id)
# gives state/state_at, the earliest success gives succeeded_at. It runs as later statements of
# the batch's transaction, after locking the deployments, so (as on the one-by-one path, which
# holds the row lock from its upsert) its snapshot holds every status committed before ours.
SUMMARY_SQL = """\
SELECT 1 FROM deployment WHERE id IN ({ids}) ORDER BY id FOR UPDATE;
UPDATE deployment AS d
SET state = m.state, state_at = m.state_at, succeeded_at = m.succeeded_at
FROM (
  SELECT DISTINCT ON (s.deployment_id) s.deployment_id, s.state, s.created_at AS state_at,
    min(s.created_at) FILTER (WHERE s.state = 'success') OVER (PARTITION BY s.deployment_id)
      AS succeeded_at
  FROM deployment_status s WHERE s.deployment_id IN ({ids})
  ORDER BY s.deployment_id, s.created_at DESC, s.id DESC
) AS m
WHERE d.id = m.deployment_id
  AND (d.state, d.state_at, d.succeeded_at) IS DISTINCT FROM (m.state, m.state_at, m.succeeded_at)"""
SUMMARY_IDS = "SELECT value::bigint FROM json_array_elements_text(%(summarize)s::json)"


@dataclass(frozen=True)
class Shape:
    """Which targets a batch writes, with which columns: one statement text per shape."""

    delivery_columns: tuple[str, ...]
    targets: tuple[tuple[pipelines.Target, tuple[str, ...]], ...]


def build_statement(shape: Shape) -> str:
    """ONE statement: insert the deliveries, then write the rows of those that were new."""
    table = webhooks.WEBHOOK_DELIVERY.model.__table__
    columns = shape.delivery_columns
    ctes = [
        f"new AS (INSERT INTO {_ident(table.name)} ({_list(columns)})\n"
        f"  SELECT {_list(columns)} FROM {_recordset('deliveries', table, columns, tagged=False)}"
        f"\n  ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id)"
    ]
    for index, (target, target_columns) in enumerate(shape.targets):
        ctes.extend(_target_ctes(index, target, target_columns))
    return "WITH " + ",\n".join(ctes) + "\nSELECT id FROM new"


def _target_ctes(index: int, target: pipelines.Target, columns: tuple[str, ...]) -> list[str]:
    table = target.model.__table__
    keys = _list(target.keys)
    if target.insert_only:
        pick = "r._ord"  # the first one in the batch, as ``insert_new`` one by one
    elif target.unless_newer:
        pick = f"{_ident(target.unless_newer)} DESC NULLS LAST, r._ord DESC"
    else:
        pick = "r._ord DESC"  # the last one wins, as ``upsert`` one by one
    source = (
        f"s{index} AS (SELECT DISTINCT ON ({keys}) {_list(columns)}\n"
        f"  FROM {_recordset(f't{index}', table, columns, tagged=True)}\n"
        f"  WHERE r._delivery IN (SELECT id FROM new) ORDER BY {keys}, {pick})"
    )
    updated = [c for c in columns if c not in target.keys]
    assignments = ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in updated)
    unchanged = ""
    if target.insert_only or not updated:
        conflict = "DO NOTHING"
    elif target.unless_newer:
        guard = _ident(target.unless_newer)
        conflict = f"DO UPDATE SET {assignments} WHERE t.{guard} <= EXCLUDED.{guard}"
    else:
        conflict = f"DO UPDATE SET {assignments}"
        if not any(isinstance(table.c[c].type, sa.JSON) for c in updated):
            # last writer wins; a row stored with these very values is not even proposed, so
            # it is neither rewritten nor locked (the repository row of every delivery)
            match = " AND ".join(f"e.{_ident(k)} = s.{_ident(k)}" for k in target.keys)
            same = f"({_list(updated, 'e.')}) IS NOT DISTINCT FROM ({_list(updated, 's.')})"
            unchanged = (
                f"\n  WHERE NOT EXISTS (SELECT 1 FROM {_ident(table.name)} e"
                f" WHERE {match} AND {same})"
            )
    write = (
        f"w{index} AS (INSERT INTO {_ident(table.name)} AS t ({_list(columns)})\n"
        f"  SELECT {_list(columns, 's.')} FROM s{index} s{unchanged}"
        f" ORDER BY {_list(target.keys, 's.')}\n"
        f"  ON CONFLICT ({keys}) {conflict})"
    )
    return [source, write]


@dataclass
class Batch:
    """A de-duplicated batch as SQL and parameters; ``summarize``: the summary statements follow
    (sent as one simple query, a single transaction)."""

    statement: str
    params: dict[str, str]
    summarize: bool


def _json(records: list[Any]) -> str:
    return pydantic_core.to_json(records).decode()


def plan(deliveries: list[Delivery], cache: dict[Shape, str]) -> Batch:
    """Group the rows of distinct deliveries by target (``_ord``: their order, as one by one)."""
    rows: dict[pipelines.Target, tuple[tuple[str, ...], list[dict[str, Any]]]] = {}
    summarize: set[int] = set()
    ordinal = 0
    for delivery in deliveries:
        for target, values in delivery.changes.rows:
            columns = tuple(values)
            known = rows.setdefault(target, (columns, []))
            if known[0] != columns:
                raise ValueError(f"{target.model.__name__} rows with different columns")
            known[1].append({"_ord": ordinal, "_delivery": delivery.id, **values})
            ordinal += 1
        # re-summarizing a deployment of a redelivery changes nothing: all its statuses are in
        summarize.update(delivery.changes.summarize)
    ordered = [t for t in ORDER if t in rows] + [t for t in rows if t not in ORDER]
    shape = Shape(tuple(deliveries[0].values), tuple((t, rows[t][0]) for t in ordered))
    statement = cache.get(shape)
    if statement is None:
        statement = cache[shape] = build_statement(shape)
    params = {"deliveries": _json([d.values for d in deliveries])}
    for index, target in enumerate(ordered):
        params[f"t{index}"] = _json(rows[target][1])
    if summarize:
        params["summarize"] = _json(sorted(summarize))
        statement += ";\n" + SUMMARY_SQL.format(ids=SUMMARY_IDS)
    return Batch(statement, params, bool(summarize))


# ---------- the writer ----------

_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError)
Waiting = tuple[Delivery, "asyncio.Future[Outcome]"]


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` → ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _coalesce(events: Iterable[Event]) -> list[Event]:
    """One event per (topic, keys): listeners re-read, so a repeat says nothing new."""
    unique: dict[tuple[str, tuple[tuple[str, str], ...]], Event] = {}
    for event in events:
        unique.setdefault((event.topic, tuple(sorted(event.keys.items()))), event)
    return list(unique.values())


def _publish(events: list[Event]) -> None:
    try:
        webhooks.publish(events)
    except Exception:  # the rows are committed; a lost notice must not fail anything
        log.exception("webhook.publish_failed", events=len(events))


def _fail(batch: list[Waiting], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class _Lane:
    """One connection and the batch it is writing."""

    def __init__(self) -> None:
        self.connection: psycopg.AsyncConnection | None = None
        self.last_used = 0.0
        self.inflight: list[Waiting] = []


class BatchWriter:
    """Group commit on async psycopg connections; one writer per event loop and database.

    With ``lanes`` > 1 each connection takes whatever is queued as soon as it is free, so a batch
    can start while another commits: PostgreSQL's row locks order them (the guards compare with
    the committed row; a delivery id in two batches at once waits for the first, then is a
    duplicate). One lane (the default) makes the biggest batches when the CPU is the limit.
    """

    def __init__(self, url: str, *, max_batch: int = MAX_BATCH, lanes: int | None = None) -> None:
        self.conninfo = conninfo(url)
        self.max_batch = max_batch
        self.lanes = lanes or LANES
        self.batches = 0  # committed transactions (tests, bench)
        self.committed = 0  # deliveries in them
        self.busy_seconds = 0.0  # time spent writing them
        self._queue: asyncio.Queue[Waiting] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._statements: dict[Shape, str] = {}
        self._publisher: ThreadPoolExecutor | None = None

    async def submit(self, delivery: Delivery) -> Outcome:
        """Answered once the batch holding this delivery has committed."""
        if not self._tasks or all(task.done() for task in self._tasks):
            self._start()
        assert self._queue is not None
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((delivery, future))
        except asyncio.QueueFull:
            raise WriterUnavailable("too many deliveries waiting") from None
        return await future

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_SIZE)
        self._tasks = [
            loop.create_task(self._run(self._queue, _Lane()), name=f"webhook-writer-{n}")
            for n in range(self.lanes)
        ]

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, queue: asyncio.Queue[Waiting], lane: _Lane) -> None:
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < self.max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                lane.inflight = batch
                try:
                    await self._write(lane, batch)
                except Exception as exc:  # a bug, not the database: fail the batch, keep going
                    log.exception("webhook.writer_error", deliveries=len(batch))
                    _fail(batch, WriterUnavailable(f"webhook writer error: {exc}"))
                lane.inflight = []
        finally:
            left = lane.inflight
            while not queue.empty():
                left.append(queue.get_nowait())
            _fail(left, WriterUnavailable("the webhook writer stopped"))
            publisher = self._publisher
            if publisher is not None and all(
                task.done() or task is asyncio.current_task() for task in self._tasks
            ):
                self._publisher = None
                publisher.shutdown(wait=False)  # what it holds is still published
            await self._disconnect(lane)

    async def _write(self, lane: _Lane, batch: list[Waiting]) -> None:
        first: dict[str, int] = {}  # delivery id → the position of its first copy
        for position, (delivery, _) in enumerate(batch):
            first.setdefault(delivery.id, position)
        results = await self._store(lane, [batch[position][0] for position in first.values()])
        stored: list[Event] = []
        for position, (delivery, future) in enumerate(batch):
            result = results[delivery.id]
            is_first = first[delivery.id] == position
            if result == "stored" and is_first:
                stored.extend(delivery.changes.events)
            if future.done():  # the caller went away; the delivery is stored all the same
                continue
            if isinstance(result, BaseException):
                future.set_exception(WriterUnavailable(str(result)))
            else:
                future.set_result(result if is_first else "duplicate")
        if stored:
            self._announce(_coalesce(stored))

    def _announce(self, events: list[Event]) -> None:
        """The in-process fan-out never blocks: inline. Redis does network I/O: one thread
        publishes the batches in order, without holding up the writer (no loop callback)."""
        if get_bus().backend == "in-process":
            _publish(events)
            return
        if self._publisher is None:
            self._publisher = ThreadPoolExecutor(1, thread_name_prefix="webhook-publish")
        self._publisher.submit(_publish, events)

    async def _store(
        self, lane: _Lane, deliveries: list[Delivery]
    ) -> dict[str, Outcome | BaseException]:
        """Each delivery's outcome, or the error that kept it from being committed."""
        started = time.perf_counter()
        try:
            new = await self._commit(lane, deliveries)
        except _UNAVAILABLE as exc:
            log.error("webhook.batch_failed", deliveries=len(deliveries), error=str(exc))
            return {d.id: exc for d in deliveries}
        except psycopg.Error as exc:  # a row that does not fit: find it, store the others
            if len(deliveries) == 1:
                log.error("webhook.delivery_failed", delivery=deliveries[0].id, error=str(exc))
                return {deliveries[0].id: exc}
            log.warning("webhook.batch_split", deliveries=len(deliveries), error=str(exc))
            results: dict[str, Outcome | BaseException] = {}
            for delivery in deliveries:
                results.update(await self._store(lane, [delivery]))
            return results
        self.batches += 1
        self.committed += len(deliveries)
        self.busy_seconds += time.perf_counter() - started
        return {d.id: "stored" if d.id in new else "duplicate" for d in deliveries}

    async def _commit(self, lane: _Lane, deliveries: list[Delivery]) -> set[str]:
        """Write the batch in one transaction; the ids that were new."""
        batch = plan(deliveries, self._statements)
        linked = any(d.changes.links for d in deliveries)
        for attempt in (1, 2):
            connection = await self._connect(lane)
            try:
                async with asyncio.timeout(BATCH_TIMEOUT_SECONDS):
                    if linked:
                        async with connection.transaction():
                            new = await _execute(connection, batch)
                            links = [
                                link for d in deliveries if d.id in new for link in d.changes.links
                            ]
                            if links:
                                steps = dora_links.refresh_steps(links, postgresql=True)
                                await _run_steps(connection, steps)
                    else:
                        new = await _execute(connection, batch)
            except psycopg.errors.TransactionRollback:  # deadlock: rolled back, try again
                if attempt == 2:
                    raise
                continue
            except _UNAVAILABLE:
                await self._disconnect(lane)
                raise
            lane.last_used = time.monotonic()
            return new
        raise AssertionError("unreachable")

    async def _connect(self, lane: _Lane) -> psycopg.AsyncConnection:
        connection = lane.connection
        if connection is not None and not connection.closed and not connection.broken:
            if time.monotonic() - lane.last_used < IDLE_CHECK_SECONDS:
                return connection
            try:  # idle for a while: the server or a proxy may have dropped it
                await connection.execute("SELECT 1")
                lane.last_used = time.monotonic()
                return connection
            except _UNAVAILABLE:
                await self._disconnect(lane)
        lane.connection = await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
        await lane.connection.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        lane.last_used = time.monotonic()
        return lane.connection

    async def _disconnect(self, lane: _Lane) -> None:
        connection, lane.connection = lane.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


async def _execute(connection: psycopg.AsyncConnection, batch: Batch) -> set[str]:
    """The batch's statement(s); the delivery ids that were new."""
    if batch.summarize:  # several statements: one simple query, one transaction
        cursor = psycopg.AsyncClientCursor(connection)
        await cursor.execute(batch.statement, batch.params)
    else:  # one statement, prepared after a few uses
        cursor = await connection.execute(batch.statement, batch.params)
    return {row[0] for row in await cursor.fetchall()}


_DIALECT = postgresql_psycopg.dialect()


async def _run_steps(connection: psycopg.AsyncConnection, steps: dora_links.Step) -> None:
    """``dora_links.run_steps`` on the writer's connection: each statement compiled for
    PostgreSQL, each SELECT's rows sent back."""
    rows: list[Any] | None = None
    while True:
        try:
            statement: Executable = steps.send(rows)
        except StopIteration:
            return
        compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
        cursor = await connection.execute(compiled.string, compiled.params)
        rows = await cursor.fetchall() if cursor.description is not None else None


# ---------- one writer per event loop and database ----------

_writers: dict[tuple[asyncio.AbstractEventLoop, str], Writer] = {}


def make_writer(url: str) -> Writer:
    return ThreadWriter(url) if url.startswith("sqlite") else BatchWriter(url)


def get_writer() -> Writer:
    """This event loop's writer for the configured database, started on first use."""
    loop = asyncio.get_running_loop()
    url = get_settings().database_url
    for key in [k for k in _writers if k[0].is_closed()]:
        del _writers[key]
    writer = _writers.get((loop, url))
    if writer is None:
        writer = _writers[(loop, url)] = make_writer(url)
    return writer


async def close_writers() -> None:
    """Stop this event loop's writers (the app's lifespan shutdown; tests)."""
    loop = asyncio.get_running_loop()
    for key in [k for k in _writers if k[0] is loop]:
        await _writers.pop(key).aclose()
