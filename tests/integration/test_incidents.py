"""Incidents from GitHub issues labelled ``incident``: webhooks, reconciliation and DORA.

Recorded payloads only (octokit's ``issues`` labeled/unlabeled deliveries, GitHub's OpenAPI issue
list example); label names, actions, states and times are changed in code where a test needs
another version of the same issue. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from opssight import db
from opssight.models import Deployment, Incident, Repository
from opssight.services import dora, github_sync, incidents, webhooks
from tests.integration.test_github_sync import REPO, client
from tests.integration.test_github_webhooks import payload
from tests.replay.github import GitHubReplay

LABELED = "octokit.issues.labeled.payload.json"
UNLABELED = "octokit.issues.unlabeled.payload.json"
T = datetime(2026, 3, 2, 9, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def version(
    name: str = LABELED,
    *,
    action: str | None = None,
    labels: tuple[str, ...] = ("incident",),
    changed: str = "incident",
    updated: datetime = T,
    closed: datetime | None = None,
) -> dict[str, Any]:
    """The recorded delivery as another version of the same issue (opened at ``T``)."""
    body = json.loads(payload(name))
    issue = body["issue"]
    label = issue["labels"][0]
    issue.update(
        labels=[{**label, "name": n} for n in labels],
        created_at=iso(T),
        updated_at=iso(updated),
        state="closed" if closed else "open",
        closed_at=iso(closed) if closed else None,
    )
    body["label"]["name"] = changed
    if action:
        body["action"] = action
    return body


def send(url: str, delivery: str, body: dict[str, Any]) -> str:
    with db.session_scope(url) as session:
        return webhooks.ingest(session, delivery_id=delivery, event="issues", payload=body)


def stored(url: str) -> list[Incident]:
    with db.session_scope(url) as session:
        return list(session.exec(select(Incident)))


def counted(url: str) -> list[Incident]:
    return [i for i in stored(url) if i.counted]


def test_a_labelled_issue_becomes_an_incident(database_url: str):
    body = version()
    assert send(database_url, "d-1", body) == "stored"
    [incident] = stored(database_url)
    issue = body["issue"]
    assert (incident.source, incident.key) == ("github-issue", str(issue["id"]))
    assert incident.repo_id == body["repository"]["id"] and incident.counted
    assert (incident.title, incident.url) == (issue["title"], issue["html_url"])
    assert incident.created_at == T and incident.resolved_at is None


def test_an_issue_without_the_label_is_not_an_incident(database_url: str):
    assert send(database_url, "d-1", json.loads(payload(LABELED))) == "stored"  # label "bug"
    assert send(database_url, "d-2", version(labels=("bug",), changed="bug")) == "stored"
    assert stored(database_url) == []


def test_the_label_name_is_a_setting(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPSSIGHT_DORA_INCIDENT_LABEL", " Outage ")
    from opssight.config import get_settings

    get_settings.cache_clear()
    send(database_url, "d-1", version(labels=("incident",)))
    assert stored(database_url) == []
    send(database_url, "d-2", version(labels=("bug", "outage"), updated=T + timedelta(minutes=1)))
    assert len(counted(database_url)) == 1


def test_closing_resolves_and_reopening_clears_it(database_url: str):
    send(database_url, "open", version())
    closed = T + timedelta(hours=3)
    send(database_url, "close", version(action="closed", updated=closed, closed=closed))
    [incident] = stored(database_url)
    assert incident.resolved_at == closed
    reopened = closed + timedelta(hours=1)
    send(database_url, "reopen", version(action="reopened", updated=reopened))
    [incident] = stored(database_url)
    assert incident.resolved_at is None and incident.counted


def test_unlabeling_or_deleting_removes_it_from_dora(database_url: str):
    send(database_url, "label", version())
    unlabeled = version(UNLABELED, labels=("bug",), updated=T + timedelta(minutes=5))
    send(database_url, "unlabel", unlabeled)
    [incident] = stored(database_url)
    assert not incident.counted  # kept as a tombstone: an older delivery cannot revive it
    send(database_url, "relabel", version(updated=T + timedelta(minutes=9)))
    assert len(counted(database_url)) == 1
    send(database_url, "delete", version(action="deleted", updated=T + timedelta(minutes=9)))
    assert counted(database_url) == [] and len(stored(database_url)) == 1


def test_out_of_order_deliveries_never_roll_back(database_url: str):
    closed = T + timedelta(hours=2)
    send(database_url, "close", version(action="closed", updated=closed, closed=closed))
    send(database_url, "label", version())  # older: ignored
    [incident] = stored(database_url)
    assert incident.resolved_at == closed and incident.counted
    later = T + timedelta(hours=5)
    send(database_url, "unlabel", version(UNLABELED, labels=(), updated=later))
    send(database_url, "reopen", version(action="reopened", updated=T + timedelta(hours=4)))
    [incident] = stored(database_url)
    assert not incident.counted and incident.updated_at == later


def test_dora_counts_only_counted_incidents(session: Session, database_url: str):
    repo = json.loads(payload(LABELED))["repository"]
    session.add(Repository(id=repo["id"], full_name=repo["full_name"], default_branch="main"))
    session.add(
        Deployment(
            id=1, repo_id=repo["id"], sha="a", ref="main", environment="production",
            production=True, created_at=T - timedelta(hours=2), state="success",
            state_at=T - timedelta(hours=1), succeeded_at=T - timedelta(hours=1),
        )
    )  # fmt: skip
    session.commit()
    resolved = T + timedelta(hours=2)
    send(database_url, "close", version(action="closed", updated=resolved, closed=resolved))
    window = {"start": T - timedelta(days=1), "end": T + timedelta(days=1)}
    report = dora.dora_report(session, deploy_workflows=[], **window)
    assert report.change_failure_rate.value == 1.0
    assert report.time_to_restore.value == timedelta(hours=3)
    session.commit()  # the first report built the links
    send(database_url, "unlabel", version(UNLABELED, labels=(), updated=resolved + timedelta(1)))
    session.expire_all()
    report = dora.dora_report(session, deploy_workflows=[], **window)
    assert report.change_failure_rate.value == 0.0  # a source is connected: 0%, not unknown
    assert report.time_to_restore.rows.incidents == []


# ---------- the reconciliation poll ----------


def sync(session: Session, replay: GitHubReplay) -> github_sync.RepoSync:
    with client(session, replay) as github:
        [result] = github_sync.sync(session, github, names=[REPO], org=None, days=30, interval=300)
    return result


def test_sync_stores_labelled_issues_and_skips_pull_requests(
    session: Session, github_replay: GitHubReplay
):
    github_replay.add_repo(REPO, runs=1, first_created=datetime.now(UTC) - timedelta(hours=2))
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    github_replay.add_issue(REPO, 7, created=opened, closed=opened + timedelta(hours=4))
    github_replay.add_issue(REPO, 8, created=opened + timedelta(days=1))
    github_replay.add_issue(REPO, 9, created=opened, labels=("bug",))  # not an incident
    github_replay.add_issue(REPO, 10, created=opened, pull_request=True)  # a pull request
    result = sync(session, github_replay)
    assert result.incidents == 2
    rows = {i.key: i for i in session.exec(select(Incident))}
    assert set(rows) == {"2000007", "2000008"}
    assert rows["2000007"].resolved_at == opened + timedelta(hours=4)
    assert rows["2000008"].resolved_at is None and rows["2000008"].counted
    [request] = [r for r in github_replay.requests if r.path.endswith("/issues")]
    assert request.query["labels"] == ["incident"] and request.query["state"] == ["all"]

    before = [i.model_dump() for i in session.exec(select(Incident))]
    mark = len(github_replay.requests)
    again = sync(session, github_replay)
    second = github_replay.requests[mark:]
    assert {r.status for r in second} == {304} and again.changed == 0
    session.expire_all()
    assert [i.model_dump() for i in session.exec(select(Incident))] == before


def test_a_full_listing_without_an_incident_stops_counting_it(
    session: Session, github_replay: GitHubReplay
):
    """Its label was removed while webhooks were missed: the next listing (a 200, since it
    changed) no longer holds it."""
    github_replay.add_repo(REPO, runs=1, first_created=datetime.now(UTC) - timedelta(hours=2))
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    github_replay.add_issue(REPO, 1, created=opened)
    github_replay.add_issue(REPO, 2, created=opened)
    sync(session, github_replay)
    github_replay.repos[REPO].issues[0]["labels"][0]["name"] = "bug"  # issue 2, newest first
    result = sync(session, github_replay)
    session.expire_all()
    rows = {i.key: i.counted for i in session.exec(select(Incident))}
    assert rows == {"2000001": True, "2000002": False} and result.incidents == 1


def test_sync_and_webhook_write_the_same_row(
    session: Session, database_url: str, github_replay: GitHubReplay
):
    """Both paths go through ``incidents.issue_changes``: a later webhook updates the row the
    poll made instead of adding one."""
    github_replay.add_repo(REPO, runs=1, first_created=datetime.now(UTC) - timedelta(hours=2))
    item = github_replay.add_issue(REPO, 3, created=T)
    sync(session, github_replay)
    body = version(updated=T + timedelta(hours=1), closed=T + timedelta(hours=1))
    body["issue"]["id"] = item["id"]
    send(database_url, "w", body)
    session.expire_all()
    [incident] = session.exec(select(Incident))
    assert incident.resolved_at == T + timedelta(hours=1)
    assert incident.source == incidents.SOURCE


def test_a_pull_request_is_never_an_incident():
    body = version()
    issue = copy.deepcopy(body["issue"])
    issue["pull_request"] = {"url": "x"}
    from opssight.schemas import github as gh

    parsed = gh.Issue.model_validate(issue)
    repo = gh.Repo.model_validate(body["repository"])
    assert incidents.issue_changes(repo, parsed, label="incident").rows == []
