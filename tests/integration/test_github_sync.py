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
    Workflow,
    WorkflowJob,
    WorkflowRun,
)
from opssight.services import github_sync, pipeline_queries
from tests.replay.github import TOKEN, GitHubReplay, load

REPO = "octo-org/live"


def client(session: Session, replay: GitHubReplay, token: str = TOKEN) -> GitHubClient:
    etags = github_sync.DbEtagStore(session)
    return GitHubClient(
        replay.url, token, etags=etags, budget=MemoryRateBudget(), sleep=lambda _: None
    )


def counts(session: Session) -> dict[str, int]:
    models: list[type[SQLModel]] = [
        Workflow,
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
    workflows = load("list-repo-workflows.200.json")["workflows"]
    assert counts(session) == {
        "Workflow": len(workflows),
        "WorkflowRun": 5,
        "WorkflowJob": 5 * jobs_per_run,
        "PullRequest": len(pulls),
        "Deployment": len(load("list-deployments.200.json")),
        "DeploymentStatus": len(load("list-deployment-statuses.200.json")),
    }
    assert result.runs == 5 and result.jobs == 5 * jobs_per_run
    assert result.workflows == len(workflows)
    stored = session.exec(select(Workflow).order_by(Workflow.name)).all()
    repo_id = session.exec(select(WorkflowRun.repo_id)).first()
    assert [(w.name, w.path, w.state, w.repo_id) for w in stored] == [
        (w["name"], w["path"], w["state"], repo_id) for w in workflows
    ]
    assert stored[0].html_url == workflows[0]["html_url"].replace("octo-org/octo-repo", REPO)
    assert stored[0].updated_at == datetime.fromisoformat(workflows[0]["updated_at"])
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
    # runs, workflows, pulls, deployments, incidents: one conditional request each
    assert len(second) == 5
    assert again.changed == 0 and counts(session) == before
    assert github_replay.remaining == remaining  # a 304 costs no rate limit
    status = session.get(ConnectorStatus, "github")
    assert "(100% 304)" in status.detail
    assert (status.facts["Requests spent"], status.facts["304 ratio"]) == ("5", "100%")
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


def test_a_deleted_workflow_is_marked_and_leaves_the_filters(
    session: Session, github_replay: GitHubReplay
):
    repo = github_replay.add_repo(
        REPO, runs=1, first_created=datetime.now(UTC) - timedelta(hours=2)
    )
    run_sync(session, github_replay)
    [run_name] = session.exec(select(WorkflowRun.workflow_name)).all()
    defined = sorted(w["name"] for w in repo.workflows)
    assert pipeline_queries.filter_options(session)[1] == sorted({run_name, *defined})
    deleted = repo.workflows.pop()
    [result] = run_sync(session, github_replay)
    assert result.workflows == 1
    states = {w.name: w.state for w in session.exec(select(Workflow))}
    assert states == {name: "deleted" if name == deleted["name"] else "active" for name in defined}
    assert pipeline_queries.filter_options(session)[1] == sorted(
        {run_name, *defined} - {deleted["name"]}
    )
    [again] = run_sync(session, github_replay)  # unchanged: a 304, the mark stays
    assert again.workflows == 0
    assert session.get(Workflow, deleted["id"]).state == "deleted"
    repo.workflows.append(deleted)  # restored (same file, same id): active again
    run_sync(session, github_replay)
    assert session.get(Workflow, deleted["id"]).state == "active"
