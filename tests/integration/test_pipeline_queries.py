"""Pipeline reads on hand-made rows whose answers are stated by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from opssight.models import Repository, WorkflowJob, WorkflowRun
from opssight.services import pipeline_queries as q

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def add_run(session: Session, run_id: int, *, attempt: int = 1, repo: int = 1, workflow: str = "CI",
            conclusion: str | None = "success", minutes: float = 10, queued_s: int = 30,
            at: datetime = T0, branch: str = "main", sha: str = "a" * 40) -> None:  # fmt: skip
    started = at + timedelta(seconds=queued_s)
    done = started + timedelta(minutes=minutes) if conclusion else None
    session.add(
        WorkflowRun(
            run_id=run_id,
            attempt=attempt,
            repo_id=repo,
            workflow_name=workflow,
            run_number=run_id,
            title=f"change {run_id}",
            event="push",
            status="completed" if conclusion else "in_progress",
            conclusion=conclusion,
            head_branch=branch,
            head_sha=sha,
            actor="octocat",
            created_at=at,
            run_started_at=started,
            updated_at=done or started,
            completed_at=done,
        )
    )


def seed(session: Session) -> None:
    session.add(Repository(id=1, full_name="acme/api"))
    session.add(Repository(id=2, full_name="acme/web"))
    # acme/api CI: durations 4, 6, 8, 10 min (success x3, failure x1), queued 10/20/30/40 s
    for i, (minutes, conclusion) in enumerate(
        [(4, "success"), (6, "failure"), (8, "success"), (10, "success")]
    ):
        add_run(session, 100 + i, minutes=minutes, conclusion=conclusion, queued_s=10 * (i + 1),
                at=T0 + timedelta(hours=i))  # fmt: skip
    # run 100 failed on attempt 1 before passing on attempt 2 (same commit): flaky
    add_run(
        session,
        200,
        attempt=1,
        conclusion="failure",
        minutes=3,
        at=T0 + timedelta(days=1),
        sha="b" * 40,
    )
    add_run(
        session,
        200,
        attempt=2,
        conclusion="success",
        minutes=5,
        at=T0 + timedelta(days=1, hours=1),
        sha="b" * 40,
    )
    # acme/web Deploy: one running, one cancelled, the next week
    add_run(
        session,
        300,
        repo=2,
        workflow="Deploy",
        conclusion=None,
        at=T0 + timedelta(days=7),
        branch="release",
    )
    add_run(
        session,
        301,
        repo=2,
        workflow="Deploy",
        conclusion="cancelled",
        minutes=1,
        at=T0 + timedelta(days=7, hours=1),
    )
    session.add(WorkflowJob(id=9001, run_id=200, attempt=2, name="build", status="completed", conclusion="success",
                            created_at=T0 + timedelta(days=1, hours=1), started_at=T0 + timedelta(days=1, hours=1), completed_at=T0 + timedelta(days=1, hours=1, minutes=2),
                            steps=[{"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1,
                                    "started_at": "2026-11-03T10:00:00Z", "completed_at": "2026-11-03T10:00:05Z"}]))  # fmt: skip
    session.commit()


def test_filters_search_and_pages(session: Session):
    seed(session)
    everything = q.list_runs(session, q.RunFilter(page_size=3))
    assert everything.total == 8 and everything.pages == 3
    assert [r.run_id for r in everything.rows] == [301, 300, 200]  # newest first
    assert [r.run_id for r in q.list_runs(session, q.RunFilter(page=3, page_size=3)).rows] == [
        101,
        100,
    ]
    assert q.list_runs(session, q.RunFilter(repo="acme/web")).total == 2
    assert q.list_runs(session, q.RunFilter(state="failure")).total == 2
    assert [r.run_id for r in q.list_runs(session, q.RunFilter(state="in_progress")).rows] == [300]
    assert q.list_runs(session, q.RunFilter(branch="release")).total == 1
    assert q.list_runs(session, q.RunFilter(search="CHANGE 10")).total == 4  # titles "change 10x"
    assert q.list_runs(session, q.RunFilter(search="bbbb")).total == 2  # sha prefix


def test_run_detail_with_attempts_jobs_and_steps(session: Session):
    seed(session)
    detail = q.run_detail(session, 200, 2)
    assert detail.attempts == [1, 2] and detail.run.state == "success"
    assert detail.run.duration_s == 300 and detail.run.queue_s == 30
    [job] = detail.jobs
    assert job.name == "build" and [s.name for s in job.steps] == ["Set up job"]
    assert q.run_detail(session, 999, 1) is None


def test_workflow_stats_success_rate_percentiles_and_queue(session: Session):
    seed(session)
    stats = {
        (s.repo, s.workflow): s for s in q.workflow_stats(session, since=T0 - timedelta(days=1))
    }
    api = stats[("acme/api", "CI")]
    # 6 runs: 4 + the two attempts of 200; decided: 4 successes (4, 8, 10, 5 min) and 2 failures
    assert api.runs == 6 and api.success_rate == 4 / 6
    # durations sorted: 3, 4, 5, 6, 8, 10 min -> nearest-rank p50 = 5 min, p95 = 10 min
    assert (api.p50_s, api.p95_s) == (300, 600)
    # queues 10, 20, 30, 40, 30, 30 s -> sorted 10, 20, 30, 30, 30, 40 -> p50 = 30 s
    assert api.queue_p50_s == 30
    web = stats[("acme/web", "Deploy")]
    assert web.runs == 2 and web.success_rate is None  # cancelled and running decide nothing
    weekly = q.workflow_stats(session, since=T0 - timedelta(days=1), weekly=True)
    assert {(s.workflow, s.week.date().isoformat()) for s in weekly} == {
        ("CI", "2026-11-02"), ("Deploy", "2026-11-09"),
    }  # fmt: skip


def test_flaky_runs_are_failures_that_passed_on_a_rerun(session: Session):
    seed(session)
    [flaky] = q.flaky_runs(session, since=T0 - timedelta(days=1))
    assert (flaky.run_id, flaky.failed_attempt, flaky.passed_attempt) == (200, 1, 2)
    assert flaky.head_sha == "b" * 40
    assert q.flaky_runs(session, since=T0 + timedelta(days=2)) == []


def test_percentile_is_nearest_rank():
    assert q.percentile([], 0.5) is None
    assert q.percentile([4, 1, 3, 2], 0.5) == 2
    assert q.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) == 10


def test_team_filter_keeps_only_the_teams_repositories(session: Session):
    seed(session)
    web = session.get(Repository, 2)
    web.team = "frontend"
    session.add(web)
    session.commit()
    runs = q.list_runs(session, q.RunFilter(team="frontend"))
    assert sorted(r.run_id for r in runs.rows) == [300, 301]
    assert q.list_runs(session, q.RunFilter(team="frontend", repo="acme/api")).total == 0
    since = T0 - timedelta(days=1)
    assert {s.repo for s in q.workflow_stats(session, since=since, team="frontend")} == {"acme/web"}
    assert q.flaky_runs(session, since=since, team="frontend") == []  # the flaky run is acme/api's
    assert q.filter_options(session)[2] == ["frontend"]
