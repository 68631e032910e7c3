"""History tables partitioned by month on PostgreSQL (plain on SQLite): the migration converts
tables holding rows, rows land in their month's partition, the partitions job creates months
ahead and drops expired months after rolling them up by week, queries with a time window scan
only that window's partitions, and upserts stay idempotent."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Select, bindparam, inspect, text
from sqlmodel import Session, SQLModel, func, select

from alembic import command
from opssight import db
from opssight.api import create_api
from opssight.integrations.kubernetes import Listed
from opssight.models import (
    Alert,
    AlertTransition,
    AlertTransitionWeekly,
    AuditLog,
    AutomationPlay,
    AutomationResult,
    AutomationResultWeekly,
    AutomationRun,
    AutomationTask,
    ConnectorCheckEntry,
    ConnectorCheckWeekly,
    KubeEvent,
    KubeEventWeekly,
    KubeRestart,
    KubeRestartWeekly,
    Repository,
    User,
    WorkflowJob,
    WorkflowJobWeekly,
    WorkflowRun,
)
from opssight.models.base import UTCDateTime
from opssight.models.history import HISTORY, History
from opssight.schemas.connector import ConnectorCheck
from opssight.services import clusters, history_retention, partitions
from opssight.services.connectors import record_check
from opssight.services.history_retention import RetentionError
from tests.conftest import _pg_admin_conninfo
from tests.integration import test_alertmanager_webhook as alertmanager
from tests.integration import test_github_webhooks as github
from tests.integration.test_kube_ingest import crashloop_pod, items
from tests.support import reset_caches

BY_NAME = {h.name: h for h in HISTORY}
# The dataset of the roll-up test: its times, weeks (Mondays) and months.
A = datetime(2025, 6, 3, 10, tzinfo=UTC)  # week of 2 June
B = datetime(2025, 6, 4, 10, tzinfo=UTC)  # week of 2 June
C = datetime(2025, 6, 30, 10, tzinfo=UTC)  # week of 30 June, in June ...
D = datetime(2025, 7, 1, 10, tzinfo=UTC)  # ... and in July
E = datetime(2025, 10, 2, 10, tzinfo=UTC)  # kept 13 months, not 3
F = datetime(2026, 8, 3, 10, tzinfo=UTC)  # kept
NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)  # 13 months: before 1 Oct 2025 goes; 3: 1 Aug 2026
W1, W2, W3 = date(2025, 6, 2), date(2025, 6, 30), date(2025, 9, 29)


# ---------- databases of their own (the job adds and drops partitions) ----------


def _create_database(template: str | None = None) -> str:
    name = f"opssight_part_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def _drop_database(url: str) -> None:
    db.get_engine(url).dispose()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(postgres_server: str, name: str) -> str:
    return postgres_server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def template(postgres_server: str) -> Iterator[str]:
    """A migrated database, copied for each test."""
    url = _url(postgres_server, _create_database())
    db.run_migrations(url)
    db.get_engine(url).dispose()
    yield url.rsplit("/", 1)[1]
    _drop_database(url)


@pytest.fixture
def pg(template: str, postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = _url(postgres_server, _create_database(template))
    monkeypatch.setenv("OPSSIGHT_DATABASE_URL", url)
    reset_caches()
    yield url
    _drop_database(url)


def relations(url: str, table: str) -> set[str]:
    """The partitions of ``table`` (its own name on SQLite: a plain table)."""
    engine = db.get_engine(url)
    if engine.dialect.name == "sqlite":
        return {table} if table in inspect(engine).get_table_names() else set()
    with engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = CAST(:t AS regclass)"
            ),
            {"t": table},
        )
        return set(found.scalars())


def placed(session: Session, history: History) -> dict[str, int]:
    """How many rows each partition holds."""
    found = session.execute(
        text(f"SELECT tableoid::regclass::text, count(*) FROM {history.name} GROUP BY 1")
    )
    return dict(found.all())


# ---------- the dataset ----------


def add_rows(session: Session, at: datetime, n: int, **extra: Any) -> None:
    """One row of every history table at ``at`` (``n`` tells same-time rows apart)."""
    key = f"{at:%Y%m%d%H}-{n}"
    run = session.get(AutomationRun, "run-1")
    if run is None:
        session.add(Repository(id=1, full_name="acme/api"))
        session.add(
            WorkflowRun(run_id=500, attempt=1, repo_id=1, workflow_name="CI", run_number=1,
                        event="push", status="completed", head_sha="a" * 40, created_at=A,
                        updated_at=A)
        )  # fmt: skip
        session.add(Alert(source="opssight", fingerprint="f1", name="HighLatency",
                          severity="critical", updated_at=A))  # fmt: skip
        session.add(AutomationRun(id="run-1", playbook="site.yml", started_at=A))
        session.flush()
        session.add(AutomationPlay(id="play-1", run_id="run-1", started_at=A))
        session.flush()
    session.add(AutomationTask(id=f"task-{key}", run_id="run-1", play_id="play-1", started_at=at))
    session.flush()
    alert = session.exec(select(Alert)).one()
    job = extra.get("job", {})
    started = job.get("started", at)
    session.add(
        WorkflowJob(id=int(at.timestamp()) + n, run_id=500, attempt=1, name=f"job-{key}",
                    status=job.get("status", "completed"), conclusion=job.get("conclusion"),
                    created_at=at, started_at=started, completed_at=job.get("completed"))
    )  # fmt: skip
    transition = extra.get("transition", ("Normal", "Pending", None))
    session.add(
        AlertTransition(alert_id=alert.id, from_state=transition[0], to_state=transition[1],
                        actor=transition[2], at=at)
    )  # fmt: skip
    event = extra.get("event", ("shop", "Normal", 1))
    session.add(
        KubeEvent(cluster="c1", uid=f"ev-{key}", namespace=event[0], type=event[1],
                  count=event[2], last_seen=at, created_at=at)
    )  # fmt: skip
    session.add(
        KubeRestart(cluster="c1", pod_uid=f"pod-{key}", container="app", restart_count=1,
                    namespace=extra.get("restart_ns", "shop"), pod="api", at=at)
    )  # fmt: skip
    session.flush()
    for host, status in extra.get("results", {"web9": "ok"}).items():
        session.add(
            AutomationResult(task_id=f"task-{key}", host=host, run_id="run-1", status=status,
                             ended_at=at)
        )  # fmt: skip
    for state, latency in extra.get("checks", [("ok", 1.0)]):
        session.add(ConnectorCheckEntry(name="github", state=state, latency_ms=latency, at=at))
    session.commit()


def seed(session: Session) -> None:
    """Times A-F, with what each table's roll-up must add up to (stated in the test)."""
    rows: list[tuple[datetime, dict[str, Any]]] = [
        (A, {"job": (60, "success"), "transition": ("Normal", "Pending", None),
             "event": ("shop", "Warning", 5), "results": {"web1": "ok", "web2": "ok"},
             "checks": [("ok", 10.0), ("ok", 20.0)]}),
        (B, {"job": (120, "failure"), "transition": ("Pending", "Firing", None),
             "event": ("shop", "Normal", 1), "results": {"web1": "failed"},
             "checks": [("down", None), ("ok", 40.0)]}),
        (B + timedelta(hours=1), {"job": (None, None), "transition": ("Firing", "Firing", "ana"),
                                  "event": ("shop", "Normal", 0), "restart_ns": "shop",
                                  "results": {}, "checks": []}),
        (C, {"job": (180, "success"), "transition": ("Firing", "Resolved", None),
             "event": ("ops", "Warning", 2), "results": {"web1": "changed"},
             "checks": [("ok", 5.0)]}),
        (D, {"job": (240, "timed_out"), "transition": ("Resolved", "Firing", None),
             "event": ("shop", "Normal", 1), "restart_ns": "ops",
             "results": {"web1": "unreachable"}, "checks": [("ok", 15.0)]}),
        (E, {"job": (30, "success")}),
        (F, {"job": (30, "success")}),
    ]  # fmt: skip
    for n, (at, extra) in enumerate(rows):
        seconds, conclusion = extra.pop("job")
        completed = None if seconds is None else at + timedelta(seconds=seconds)
        status = "completed" if completed else "in_progress"
        extra["job"] = {"status": status, "conclusion": conclusion, "completed": completed}
        add_rows(session, at, n, **extra)


# ---------- the migration ----------


def _previous_revision(url: str) -> str:
    script = ScriptDirectory.from_config(db.alembic_config(url))
    revision = script.get_revision("0019partitions")
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


OLD_ROWS = [
    "INSERT INTO workflow_run (run_id, attempt, repo_id, workflow_name, run_number, title, event,"
    " status, head_sha, pull_requests, created_at, updated_at) VALUES (1, 1, 1, 'CI', 1, '',"
    " 'push', 'completed', 'abc', '[]', :march, :march)",
    # a job stored without creation time takes its start, else its run's creation
    "INSERT INTO workflow_job (id, run_id, attempt, name, status, progress, labels, steps,"
    " created_at, started_at) VALUES (10, 1, 1, 'build', 'completed', 2, '[]', '[]', NULL, NULL),"
    " (11, 1, 1, 'test', 'completed', 2, '[]', '[]', NULL, :may),"
    " (12, 1, 1, 'lint', 'completed', 2, '[]', '[]', :may, :may)",
    "INSERT INTO alert (source, fingerprint, datasource, name, severity, labels, annotations,"
    " state, updated_at) VALUES ('opssight', 'f', '', 'A', 'critical', '{}', '{}', 'Firing',"
    " :march)",
    "INSERT INTO alert_transition (alert_id, from_state, to_state, at)"
    " SELECT id, 'Normal', 'Firing', :march FROM alert UNION ALL"
    " SELECT id, 'Firing', 'Resolved', :may FROM alert",
    # an Event is dated by its last sighting (the only time stored before)
    "INSERT INTO kube_event (cluster, uid, namespace, object_kind, object_name, type, reason,"
    " message, count, last_seen, resource_version) VALUES"
    " ('c', 'u1', 'ns', 'Pod', 'p', 'Warning', 'BackOff', 'm', 3, :march, '1')",
    "INSERT INTO kube_restart (cluster, pod_uid, container, restart_count, namespace, pod, at)"
    " VALUES ('c', 'p1', 'app', 1, 'ns', 'p', :march), ('c', 'p1', 'app', 2, 'ns', 'p', :may)",
    'INSERT INTO automation_run (id, playbook, name, "user", controller, ansible_version,'
    " check_mode, status, started_at, extra_vars, arguments, is_demo, updated_at) VALUES"
    " ('r', 'site.yml', '', '', '', '', false, 'ok', :march, '{}', '{}', false, :march)",
    "INSERT INTO automation_play (id, run_id, name, pattern, position, started_at)"
    " VALUES ('p', 'r', '', 'all', 0, :march)",
    "INSERT INTO automation_task (id, run_id, play_id, name, action, path, position, handler,"
    " status, started_at) VALUES ('t', 'r', 'p', '', '', '', 0, false, 'ok', :march)",
    "INSERT INTO automation_result (task_id, host, run_id, status, changed, ignore_errors,"
    " message, items, ended_at) VALUES ('t', 'web1', 'r', 'ok', false, false, '', 0, :march),"
    " ('t', 'web2', 'r', 'ok', false, false, '', 0, :may)",
]
MARCH, MAY = datetime(2025, 3, 4, 10, tzinfo=UTC), datetime(2025, 5, 6, 10, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database at the revision before partitioning."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = _url(server, _create_database())
    command.upgrade(db.alembic_config(url), _previous_revision(url))
    yield url
    if request.param == "postgresql":
        _drop_database(url)
    else:
        db.get_engine(url).dispose()


def test_the_migration_keeps_every_row_and_partitions_on_postgresql(old_database: str) -> None:
    url = old_database
    engine = db.get_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    moments = {"march": MARCH, "may": MAY}
    with engine.begin() as connection:
        for statement in OLD_ROWS:
            if sqlite:
                statement = statement.replace("false", "0")
            used = [bindparam(k, v, type_=UTCDateTime()) for k, v in moments.items()
                    if f":{k}" in statement]  # fmt: skip
            connection.execute(text(statement).bindparams(*used))

    command.upgrade(db.alembic_config(url), "head")

    with db.session_scope(url) as session:
        jobs = session.exec(select(WorkflowJob.id, WorkflowJob.created_at)).all()
        assert sorted(jobs) == [(10, MARCH), (11, MAY), (12, MAY)]
        events = session.exec(select(KubeEvent.uid, KubeEvent.created_at)).all()
        assert events == [("u1", MARCH)]
        moments = {m: session.exec(select(m.at if hasattr(m, "at") else m.ended_at)).all()
                   for m in (AlertTransition, KubeRestart, AutomationResult)}  # fmt: skip
        assert all(sorted(v) == [MARCH, MAY] for v in moments.values())
        if sqlite:
            assert all(relations(url, h.name) == {h.name} for h in HISTORY)
            return
        this = partitions.month_of(datetime.now(UTC))
        ahead = {f"p{partitions.add_months(this, n):%Y%m}" for n in range(3)}
        expected = {
            "workflow_job": {"p202503", "p202505"},
            "alert_transition": {"p202503", "p202505"},
            "kube_event": {"p202503"},
            "kube_restart": {"p202503", "p202505"},
            "automation_result": {"p202503", "p202505"},
            "connector_check": set(),
        }
        for history in HISTORY:
            names = {f"{history.name}_{s}" for s in expected[history.name] | ahead | {"default"}}
            assert relations(url, history.name) == names
            months = {f"{history.name}_{s}" for s in expected[history.name]}
            assert set(placed(session, history)) == months  # nothing in the default partition
        # the serial ids go on from where they were
        alert = session.exec(select(Alert)).one()
        session.add(AlertTransition(alert_id=alert.id, to_state="Normal", at=NOW))
        session.commit()
        assert max(session.exec(select(AlertTransition.id)).all()) == 3


# ---------- where rows go ----------


def test_rows_land_in_their_months_partition_and_a_missing_month_is_created(pg: str) -> None:
    this = partitions.month_of(datetime.now(UTC))
    next_month, far = partitions.add_months(this, 1), partitions.add_months(this, 7)
    with db.session_scope(pg) as session:
        for n, month in enumerate((next_month, far)):
            record = partitions.bound(month) + timedelta(days=3)
            session.add(ConnectorCheckEntry(name=f"c{n}", state="ok", latency_ms=1.0, at=record))
        session.commit()
        history = BY_NAME["connector_check"]
        assert placed(session, history) == {
            f"connector_check_p{next_month:%Y%m}": 1,
            "connector_check_default": 1,  # no partition that far ahead yet
        }
        done = history_retention.maintain(session)
        assert f"connector_check_p{far:%Y%m}" in done.created
        assert placed(session, history) == {
            f"connector_check_p{next_month:%Y%m}": 1,
            f"connector_check_p{far:%Y%m}": 1,
        }


# ---------- the partitions job ----------


def test_the_job_creates_months_ahead(pg: str) -> None:
    later = datetime(2031, 6, 10, tzinfo=UTC)
    with db.session_scope(pg) as session:
        done = history_retention.maintain(session, now=later)
    for history in HISTORY:
        names = relations(pg, history.name)
        assert {f"{history.name}_p2031{m:02d}" for m in (6, 7, 8)} <= names
        assert all(n >= f"{history.name}_p2030" or n.endswith("_default") for n in names)
    assert not done.failed


def test_expired_months_are_rolled_up_by_week_then_dropped(pg: str) -> None:
    with db.session_scope(pg) as session:
        seed(session)
        admin = User(login="root-admin", role="admin")
        session.add(admin)
        session.commit()
        history_retention.set_retention(session, actor=admin, table="workflow_job", months=3)
        done = history_retention.maintain(session, now=NOW)
        assert not done.failed

        for history in HISTORY:
            names = relations(pg, history.name)
            assert f"{history.name}_p202506" not in names
            assert f"{history.name}_p202507" not in names
            kept = {"p202608"} | ({"p202510"} if history.name != "workflow_job" else set())
            assert {f"{history.name}_{s}" for s in kept} <= names
            assert {f"{history.name}_p{m}" for m in ("202611", "202612", "202701")} <= names
        # what is left: the months within retention, nothing row by row
        times = session.exec(select(KubeRestart.at).order_by(KubeRestart.at)).all()
        assert times == [E, F]
        assert session.exec(select(WorkflowJob.created_at)).all() == [F]

        def weekly(model: type[SQLModel]) -> list[tuple[Any, ...]]:
            rows = session.exec(select(model)).all()
            columns = [c.name for c in model.__table__.columns]
            return sorted(tuple(getattr(r, c) for c in columns) for r in rows)

        # jobs: 60 s success and 120 s failure (and one unfinished) in the week of 2 June; 180 s
        # success and 240 s timed out across June and July; 30 s in the week of 29 September
        jobs = {r.week: r for r in session.exec(select(WorkflowJobWeekly)).all()}
        assert set(jobs) == {W1, W2, W3}
        assert all((r.repository, r.workflow) == ("acme/api", "CI") for r in jobs.values())
        assert [(jobs[w].jobs, jobs[w].failures) for w in (W1, W2, W3)] == [(3, 1), (2, 1), (1, 0)]
        assert (jobs[W1].p50_seconds, jobs[W1].p95_seconds) == pytest.approx((90, 117))
        assert (jobs[W2].p50_seconds, jobs[W2].p95_seconds) == pytest.approx((210, 237))
        assert (jobs[W3].p50_seconds, jobs[W3].p95_seconds) == pytest.approx((30, 30))
        # Normal→Pending→Firing, acknowledged; Firing→Resolved→Firing
        assert weekly(AlertTransitionWeekly) == [
            (W1, "opssight", "HighLatency", "critical", 1, 0, 1),
            (W2, "opssight", "HighLatency", "critical", 1, 1, 0),
        ]
        assert weekly(KubeEventWeekly) == [
            (W1, "c1", "shop", 3, 1, 6),
            (W2, "c1", "ops", 1, 1, 2),
            (W2, "c1", "shop", 1, 0, 1),
        ]
        assert weekly(KubeRestartWeekly) == [
            (W1, "c1", "shop", 3),
            (W2, "c1", "ops", 1),
            (W2, "c1", "shop", 1),
        ]
        assert weekly(AutomationResultWeekly) == [
            (W1, "web1", 1, 0, 1, 0, 0),
            (W1, "web2", 1, 0, 0, 0, 0),
            (W2, "web1", 0, 1, 0, 0, 1),
        ]
        checks = {r.week: r for r in session.exec(select(ConnectorCheckWeekly)).all()}
        assert [(checks[w].checks, checks[w].ok) for w in (W1, W2)] == [(4, 3), (2, 2)]
        # latencies 10, 20, 40 (a failed check has none); then 5 and 15
        assert checks[W1].p95_latency_ms == pytest.approx(38)
        assert checks[W2].p95_latency_ms == pytest.approx(14.5)

        again = history_retention.maintain(session, now=NOW)
        assert (again.created, again.dropped, again.rolled_up) == ([], [], 0)

        session.execute(text("ANALYZE kube_restart"))  # the admin page's row estimates
        listed = {t.history.name: t for t in history_retention.tables(session)}
        months = {p.month: p.rows for p in listed["kube_restart"].partitions}
        assert (months[date(2025, 10, 1)], months[date(2026, 8, 1)], months[None]) == (1, 1, 0)


def test_retention_is_set_per_table_by_an_admin_and_audited(session: Session) -> None:
    admin = User(login="root-admin", role="admin")
    session.add(admin)
    session.commit()
    assert set(history_retention.retention(session).values()) == {13}
    history_retention.set_retention(session, actor=admin, table="kube_event", months=2)
    with pytest.raises(RetentionError, match="between 1 and 120"):
        history_retention.set_retention(session, actor=admin, table="kube_event", months=0)
    with pytest.raises(RetentionError, match="not a history table"):
        history_retention.set_retention(session, actor=admin, table="user", months=5)
    session.rollback()
    assert history_retention.retention(session)["kube_event"] == 2
    [entry] = session.exec(select(AuditLog).where(AuditLog.action == "retention.set")).all()
    assert (entry.target_id, entry.before, entry.after) == ("kube_event", {"months": 13},
                                                            {"months": 2})  # fmt: skip
    tables = {t.history.name: t for t in history_retention.tables(session)}
    assert tables["kube_event"].months == 2
    if session.get_bind().dialect.name == "sqlite":  # plain tables: nothing to list or drop
        assert all(t.partitions == [] for t in tables.values())
        assert history_retention.maintain(session) == history_retention.Pass()
    else:
        assert any(p.month is None for p in tables["kube_event"].partitions)


# ---------- queries scan only their window's partitions ----------


def scanned(session: Session, statement: Select) -> set[str]:
    """The relations PostgreSQL's plan reads for this statement."""
    compiled = statement.compile(dialect=session.get_bind().dialect)
    connection = session.connection()
    plan = connection.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params
    ).scalar()
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_a_time_window_scans_only_its_months_partitions(pg: str) -> None:
    months = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    with db.session_scope(pg) as session:
        for history in HISTORY:
            for month in months:
                assert partitions.create(session, history, month)
            session.commit()
        for n, month in enumerate(months):
            add_rows(session, partitions.bound(month) + timedelta(days=9), n)
        session.execute(text("ANALYZE"))
        for history in HISTORY:
            column = history.table.c[history.column]
            window = select(history.table).where(
                column >= datetime(2025, 2, 1, tzinfo=UTC),
                column < datetime(2025, 3, 1, tzinfo=UTC),
            )
            assert scanned(session, window) == {f"{history.name}_p202502"}
            across = (
                select(func.count())
                .select_from(history.table)
                .where(
                    column >= datetime(2025, 2, 20, tzinfo=UTC),
                    column < datetime(2025, 3, 5, tzinfo=UTC),
                )
            )
            assert scanned(session, across) == {
                f"{history.name}_p202502",
                f"{history.name}_p202503",
            }
        # the timeline's read of alerts in a window, joined to the alerts
        timeline = (
            select(AlertTransition, Alert)
            .join(Alert, Alert.id == AlertTransition.alert_id)
            .where(
                AlertTransition.at >= datetime(2025, 1, 5, tzinfo=UTC),
                AlertTransition.at <= datetime(2025, 1, 25, tzinfo=UTC),
            )
        )
        assert scanned(session, timeline) == {"alert_transition_p202501", "alert"}


# ---------- idempotent writes on the partitioned tables ----------


@pytest.fixture
async def client(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPSSIGHT_GITHUB_WEBHOOK_SECRET", github.SECRET)
    monkeypatch.setenv("OPSSIGHT_ALERTMANAGER_WEBHOOK_TOKEN", alertmanager.TOKEN)
    reset_caches()
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _count(url: str, model: type[SQLModel]) -> int:
    with db.session_scope(url) as session:
        return session.exec(select(func.count()).select_from(model)).one()


async def test_redelivered_jobs_and_alerts_keep_one_row(client, database_url: str) -> None:
    body = github.payload(github.JOB_COMPLETED)
    for delivery in ("d-1", "d-2"):  # a redelivery, and the same job sent again
        response = await github.deliver(client, "workflow_job", body, delivery=delivery)
        assert response.status_code == 200, response.text
    await github.deliver(client, "workflow_job", body, delivery="d-1")
    await github.deliver(
        client, "workflow_job", github.same_job("octokit.workflow_job.queued.payload.json")
    )
    [job] = github.rows(database_url, WorkflowJob)
    assert (job.status, job.conclusion) == ("completed", "success")  # queued came late

    first = await alertmanager.send(client, alertmanager.FIRING)
    stored = _count(database_url, AlertTransition)
    again = await alertmanager.send(client, alertmanager.FIRING)
    assert first.status_code == again.status_code == 200
    assert stored > 0 and _count(database_url, AlertTransition) == stored


def test_relisted_events_and_restarts_keep_one_row(session: Session) -> None:
    """An Event without any time of its own, and a restart without a termination time, are
    dated when first seen: seen again later, they are the same rows."""
    event = {**copy.deepcopy(items("kdash.events.list.yaml")[0]), "kind": "Event"}
    for name in ("eventTime", "firstTimestamp", "lastTimestamp"):
        event.pop(name, None)
    event["metadata"].pop("creationTimestamp")
    pod = crashloop_pod()
    for status in pod["status"]["containerStatuses"]:
        status["restartCount"], status["lastState"] = 2, {}
    clusters.register(session, "prod")
    first = datetime(2026, 11, 20, 8, tzinfo=UTC)
    for hours in (0, 5):
        changes = [Listed("Event", [event], "1"), Listed("Pod", [pod], "1")]
        clusters.apply(session, "prod", changes, now=first + timedelta(hours=hours))
    [stored] = session.exec(select(KubeEvent)).all()
    assert stored.created_at == first
    restarts = session.exec(select(KubeRestart.container, KubeRestart.at)).all()
    assert restarts and all(at == first for _, at in restarts)
    assert len(restarts) == len(pod["status"]["containerStatuses"])


def test_each_connector_check_is_kept(session: Session) -> None:
    for state, latency in (("ok", 12.5), ("down", None)):
        check = ConnectorCheck(name="github", kind="github", state=state, latency_ms=latency,
                               error="timed out" if state == "down" else None)  # fmt: skip
        record_check(session, check)
    rows = session.exec(select(ConnectorCheckEntry).order_by(ConnectorCheckEntry.id)).all()
    assert [(r.name, r.state, r.latency_ms, r.error) for r in rows] == [
        ("github", "ok", 12.5, None),
        ("github", "down", None, "timed out"),
    ]
