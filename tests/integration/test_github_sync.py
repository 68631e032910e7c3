"""The reconciliation poll against the GitHub replay server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from opssight.integrations.github import GitHubClient, MemoryRateBudget
from opssight.models import (
    ConnectorStatus,
    Deployment,
    DeploymentStatus,
    PullRequest,
    WorkflowJob,
    WorkflowRun,
)
from opssight.services import github_sync
from tests.replay.github import TOKEN, GitHubReplay, load

REPO = "octo-org/live"


def client(session: Session, replay: GitHubReplay, token: str = TOKEN) -> GitHubClient:
    etags = github_sync.DbEtagStore(session)
    return GitHubClient(
        replay.url, token, etags=etags, budget=MemoryRateBudget(), sleep=lambda _: None
    )


def counts(session: Session) -> dict[str, int]:
    models: list[type[SQLModel]] = [
        WorkflowRun,
        WorkflowJob,
        PullRequest,
        Deployment,
        DeploymentStatus,
    ]
    return {m.__name__: session.exec(select(func.count()).select_from(m)).one() for m in models}


def run_sync(session: Session, replay: GitHubReplay, token: str = TOKEN):
    with client(session, replay, token) as github:
        return github_sync.sync(session, github, names=[REPO], org=None, days=30, interval=300)


def test_full_sync_stores_what_the_payloads_hold(session: Session, github_replay: GitHubReplay):
    github_replay.add_repo(
        REPO,
        runs=5,
        first_created=datetime.now(UTC) - timedelta(days=2),
        spacing=timedelta(hours=1),
    )
    [result] = run_sync(session, github_replay)
    jobs_per_run = len(load("list-jobs-for-workflow-run.200.json")["jobs"])
    pulls = load("list-pull-requests.200.json")
    assert counts(session) == {
        "WorkflowRun": 5,
        "WorkflowJob": 5 * jobs_per_run,
        "PullRequest": len(pulls),
        "Deployment": len(load("list-deployments.200.json")),
        "DeploymentStatus": len(load("list-deployment-statuses.200.json")),
    }
    assert result.runs == 5 and result.jobs == 5 * jobs_per_run
    merged = session.exec(select(PullRequest).where(PullRequest.merged_at.is_not(None))).all()
    commit_dates = [c["commit"]["author"]["date"] for c in load("list-commits.200.json")]
    assert merged and all(
        p.first_commit_at.isoformat().startswith(min(commit_dates)[:19]) for p in merged
    )
    deployment = session.exec(select(Deployment)).first()
    assert deployment.state == load("list-deployment-statuses.200.json")[-1]["state"]
    status = session.get(ConnectorStatus, "github")
    assert status.state == "ok" and "1/1 repositories" in status.detail


def test_second_sync_is_all_304_and_writes_nothing(session: Session, github_replay: GitHubReplay):
    github_replay.add_repo(REPO, runs=3, first_created=datetime.now(UTC) - timedelta(days=1))
    run_sync(session, github_replay)
    before, remaining = counts(session), github_replay.remaining
    mark = len(github_replay.requests)
    [again] = run_sync(session, github_replay)
    second = github_replay.requests[mark:]
    assert second and {r.status for r in second} == {304}
    assert len(second) == 4  # runs, pulls, deployments, incidents: one conditional request each
    assert again.changed == 0 and counts(session) == before
    assert github_replay.remaining == remaining  # a 304 costs no rate limit
    status = session.get(ConnectorStatus, "github")
    assert "(100% 304)" in status.detail
    assert (status.facts["Requests spent"], status.facts["304 ratio"]) == ("4", "100%")
    assert status.facts["Rate budget left"] == f"{remaining:,}/{github_replay.limit:,}"
    assert {"Last sync", "Next sync", "Rate resets"} <= set(status.facts)


def test_bad_token_marks_the_connector_down_without_crashing(
    session: Session, github_replay: GitHubReplay
):
    github_replay.add_repo(REPO, runs=1, first_created=datetime.now(UTC) - timedelta(hours=3))
    assert run_sync(session, github_replay, token="expired-token") == []
    status = session.get(ConnectorStatus, "github")
    assert status.state == "down" and "401" in status.last_error
    assert counts(session)["WorkflowRun"] == 0


def test_unknown_repository_is_reported_and_others_still_sync(
    session: Session, github_replay: GitHubReplay
):
    github_replay.add_repo(REPO, runs=2, first_created=datetime.now(UTC) - timedelta(hours=5))
    with client(session, github_replay) as github:
        results = github_sync.sync(
            session, github, names=["octo-org/gone", REPO], org=None, days=30, interval=300
        )
    assert [r.repository for r in results] == [REPO]
    status = session.get(ConnectorStatus, "github")
    assert status.state == "degraded" and "octo-org/gone" in status.last_error


def test_a_full_pass_reads_everything_again_and_keeps_fresh_etags(
    session: Session, github_replay: GitHubReplay
):
    github_replay.add_repo(REPO, runs=3, first_created=datetime.now(UTC) - timedelta(days=1))
    run_sync(session, github_replay)
    mark = len(github_replay.requests)
    with GitHubClient(
        github_replay.url,
        TOKEN,
        budget=MemoryRateBudget(),
        sleep=lambda _: None,
        etags=github_sync.DbEtagStore(session, conditional=False),
    ) as github:
        github_sync.sync(session, github, names=[REPO], org=None, days=30, interval=300)
    full = github_replay.requests[mark:]
    assert {r.status for r in full} == {200}
    assert not any("if-none-match" in r.headers for r in full)
    mark = len(github_replay.requests)
    run_sync(session, github_replay)  # the ETags the full pass kept still answer 304
    assert {r.status for r in github_replay.requests[mark:]} == {304}
