"""DORA report time next to a bare table scan, on PostgreSQL, in one run.

Creates a scratch database ``opssight_bench_dora`` on the server of the given URL, migrates it,
loads 1,000,000 workflow runs (5% are second attempts; 15% are "Deploy" runs), 100,000
deployments (70% production, 90% succeeded), 100,000 pull requests and 5,000 incidents spread
over two years across 200 repositories, all server-side (INSERT ... SELECT generate_series),
then fills DORA's materialized links with the app's own ``dora_links.rebuild`` (the rows
bypassed ingest) and runs VACUUM ANALYZE. It times ``dora_report`` over the last 90 days and the last year (median of
5 runs after a warm-up) next to ``SELECT count(*) FROM workflow_run`` plus ``SELECT count(*)
FROM deployment`` (same method), prints the ratio report/scan and which statement of the report
took the time; then the same again after creating the indexes in ``PROPOSED_INDEXES``, if any
(``--no-proposed`` skips that). The scratch database is dropped at the end.

    .venv/bin/python bench/dora.py [postgresql+psycopg://postgres@127.0.0.1:5432/test]

The URL may also come from ``OPSSIGHT_BENCH_DATABASE_URL``. Goal: report <= 3x the scan.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import event, make_url, text
from sqlmodel import Session

from opssight import db
from opssight.services import dora_links
from opssight.services.dora import dora_report

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCRATCH = "opssight_bench_dora"
RUNS = 5
DEPLOY_WORKFLOWS = ["Deploy"]

# Two years of history ending at the start of today (UTC); every 20th run row is a re-run.
LOAD = {
    "repository": """
        INSERT INTO repository (id, full_name, html_url, default_branch, team)
        SELECT 1000 + g, 'bench-org/repo-' || g, NULL, 'main', 'team-' || (g % 10)
        FROM generate_series(0, 199) AS g
    """,
    "workflow_run": """
        INSERT INTO workflow_run (run_id, attempt, repo_id, workflow_id, workflow_name,
          run_number, title, event, status, conclusion, head_branch, head_sha, actor, html_url,
          pull_requests, created_at, run_started_at, updated_at, completed_at)
        SELECT run_id, attempt, 1000 + (run_id * 7919) % 200, wf, name, run_id, 'bench run',
          'push', status, CASE WHEN status = 'completed' THEN conclusion END, 'main',
          md5('r' || run_id), 'bench', NULL, '[]', created, created + interval '5 seconds',
          done, CASE WHEN status = 'completed' THEN done END
        FROM (
          SELECT g,
            CASE WHEN g % 20 = 0 THEN g - 1 ELSE g END AS run_id,
            CASE WHEN g % 20 = 0 THEN 2 ELSE 1 END AS attempt,
            CASE WHEN g % 20 IN (0, 19, 9) THEN 'Deploy'
                 ELSE (ARRAY['CI', 'Test', 'Lint', 'Build', 'Docs'])[g % 5 + 1] END AS name,
            CASE WHEN g % 20 IN (0, 19, 9) THEN 7 ELSE g % 5 END AS wf,
            CASE WHEN g > 999990 THEN 'in_progress' ELSE 'completed' END AS status,
            CASE WHEN g % 20 = 19 OR g % 10 = 3 THEN 'failure' ELSE 'success' END AS conclusion,
            :origin + (CASE WHEN g % 20 = 0 THEN g - 1 ELSE g END) * interval '63.072 seconds'
              AS created,
            :origin + (CASE WHEN g % 20 = 0 THEN g - 1 ELSE g END) * interval '63.072 seconds'
              + CASE WHEN g % 20 = 0 THEN interval '1 hour'
                     ELSE (60 + g % 600) * interval '1 second' END AS done
          FROM generate_series(1::bigint, 1000000) AS g
        ) s
    """,
    "pull_request": """
        INSERT INTO pull_request (id, repo_id, number, title, state, author, head_sha, base_ref,
          merge_commit_sha, html_url, created_at, updated_at, merged_at, closed_at,
          first_commit_at)
        SELECT 5000000 + g, 1000 + (g * 7919) % 200, g, 'bench pull', 'closed', 'bench',
          md5('h' || g), 'main', CASE WHEN g % 20 <> 7 THEN md5('c' || g) END, NULL,
          t - (1 + g % 72) * interval '1 hour', t, CASE WHEN g % 20 <> 7 THEN t END, t,
          CASE WHEN g % 10 <> 0 THEN t - (1 + g % 72 + g % 48) * interval '1 hour' END
        FROM (SELECT g, :origin + g * interval '630.72 seconds' AS t
              FROM generate_series(1::bigint, 100000) AS g) s
    """,
    # Each a few minutes after the merge of the same-numbered PR, in its repository; half of
    # them deploy that merge commit itself.
    "deployment": """
        INSERT INTO deployment (id, repo_id, sha, ref, environment, production, creator,
          created_at, state, state_at, succeeded_at)
        SELECT 9000000 + g, 1000 + (g * 7919) % 200,
          CASE WHEN g % 2 = 0 THEN md5('c' || g) ELSE md5('d' || g) END, 'main',
          CASE WHEN g % 10 < 7 THEN 'production' ELSE 'staging' END, g % 10 < 7, 'bench', t,
          CASE WHEN g % 10 <> 3 THEN 'success' ELSE 'failure' END, t + interval '3 minutes',
          CASE WHEN g % 10 <> 3 THEN t + interval '3 minutes' END
        FROM (SELECT g, :origin + g * interval '630.72 seconds'
                + (5 + g % 180) * interval '1 minute' AS t
              FROM generate_series(1::bigint, 100000) AS g) s
    """,
    "incident": """
        INSERT INTO incident (source, key, repo_id, title, url, created_at, resolved_at)
        SELECT 'bench', 'k' || g, 1000 + (g * 31) % 200, 'bench incident', NULL, t,
          CASE WHEN g % 20 <> 5 THEN t + (10 + (g % 48) * 60) * interval '1 minute' END
        FROM (SELECT g, :origin + g * interval '12614.4 seconds' AS t
              FROM generate_series(1::bigint, 5000) AS g) s
    """,
}

# Indexes proposed for the models, measured after the schema as migrated. Empty: the last one
# proposed (ix_workflow_run_deploys) is in the schema since migration 0004, and creating it
# again failed the bench. Add candidates here (CREATE INDEX ...) to compare them.
PROPOSED_INDEXES: list[str] = []


def admin(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(url: str, *, keep: bool = False) -> Iterator[str]:
    with psycopg.connect(admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    scratch = make_url(url).set(database=SCRATCH).render_as_string(hide_password=False)
    try:
        yield scratch
    finally:
        db.get_engine(scratch).dispose()
        db.get_engine.cache_clear()
        if keep:
            print(f"\nkept {scratch}")
        else:
            with psycopg.connect(admin(url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')


def load(url: str, origin: datetime) -> None:
    engine = db.get_engine(url)
    for table, sql in LOAD.items():
        started = time.perf_counter()
        with engine.begin() as conn:
            count = conn.execute(text(sql), {"origin": origin}).rowcount
        print(f"  {table:<14} {count:>9,} rows  {time.perf_counter() - started:6.1f} s")
    started = time.perf_counter()
    with db.session_scope(url) as session:  # the rows bypassed ingest: the app's own rebuild
        dora_links.rebuild(session, DEPLOY_WORKFLOWS)
    print(f"  {'dora links':<14} {'(rebuild)':>14}  {time.perf_counter() - started:6.1f} s")
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"  {'vacuum analyze':<14} {'':>14}  {time.perf_counter() - started:6.1f} s")


def timed(work: Callable[[], object]) -> float:
    """Median milliseconds of RUNS runs after one warm-up."""
    work()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


class StatementClock:
    """Milliseconds per statement (by its first words) of the last call, to say what dominates."""

    def __init__(self, url: str) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        engine = db.get_engine(url)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        elapsed = (time.perf_counter() - conn.info.pop("bench_started")) * 1000
        self.totals[self.label(statement)] += elapsed

    @staticmethod
    def label(statement: str) -> str:
        words = " ".join(statement.split())
        if "string_agg" in words:
            return "main statement (per-day ranges of the materialized links)"
        return words[:60]


def measure(url: str, end: datetime, label: str, clock: StatementClock) -> None:
    engine = db.get_engine(url)
    with engine.connect() as conn:
        scan = timed(
            lambda: (
                conn.execute(text("SELECT count(*) FROM workflow_run")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM deployment")).scalar_one(),
            )
        )
    print(f"\n{label}")
    print(f"  {'bare scan: count(*) workflow_run + deployment':<58} {scan:8.1f} ms")
    for days in (90, 365):
        start = end - timedelta(days=days)
        with Session(engine) as session:

            def report(start: datetime = start, session: Session = session) -> object:
                result = dora_report(
                    session, start=start, end=end, deploy_workflows=DEPLOY_WORKFLOWS
                )
                session.rollback()  # end the transaction, as a request would
                return result

            elapsed = timed(report)
            clock.totals.clear()
            result = report()
        shown = {k: v for k, v in clock.totals.items() if v >= 1}
        df, lt = result.deployment_frequency, result.lead_time
        cfr, ttr = result.change_failure_rate, result.time_to_restore
        print(
            f"  dora_report {days:>3} days {'':<38} {elapsed:8.1f} ms   "
            f"report/scan {elapsed / scan:5.1f}x"
        )
        print(
            f"    {len(df.rows.deployments):,} deployments, {len(lt.rows.pulls):,} PRs, "
            f"{len(ttr.rows.incidents):,} incidents; DF {df.value} d/wk ({df.level}), "
            f"LT {lt.value} ({lt.level}), CFR {cfr.value:.3f} ({cfr.level}), "
            f"TTR {ttr.value} ({ttr.level})"
        )
        for name, ms in sorted(shown.items(), key=lambda item: -item[1]):
            print(f"    {name:<66} {ms:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "url", nargs="?", default=os.environ.get("OPSSIGHT_BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--no-proposed", action="store_true", help="skip the proposed indexes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with scratch_database(args.url, keep=args.keep) as url:
        started = time.perf_counter()
        db.run_migrations(url)
        print(f"scratch database {SCRATCH}, migrated in {time.perf_counter() - started:.1f} s")
        load(url, end - timedelta(days=730))
        clock = StatementClock(url)
        measure(url, end, "schema as migrated", clock)
        if PROPOSED_INDEXES and not args.no_proposed:
            engine = db.get_engine(url)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for statement in PROPOSED_INDEXES:
                    conn.execute(text(statement))
                conn.execute(text("VACUUM ANALYZE workflow_run"))
            measure(url, end, "with the proposed indexes: " + "; ".join(PROPOSED_INDEXES), clock)


if __name__ == "__main__":
    main()
