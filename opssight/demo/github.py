"""Demo GitHub activity: recorded webhook payloads re-stamped with new ids and shifted times.

Three demo repositories get CI runs (some failing, some flaky and re-run), jobs with steps,
merged pull requests, production deployments and, after some deployments, an issue labelled
``incident`` that is closed hours later, over the last ``days``, then live as time passes. Every delivery goes through ``services.webhooks.ingest`` exactly like a real one.
Ids derive from the absolute time slot, so a restart re-sends the same deliveries and the
webhook de-duplication keeps one copy.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlmodel import Session

from opssight.demo.recordings import load
from opssight.services import webhooks

SLOT = timedelta(hours=2)
EPOCH = datetime(2020, 1, 6, tzinfo=UTC)  # a Monday; slot numbers count from here
ORG = "demo-org"


class DemoRepo(NamedTuple):
    index: int
    name: str
    deploys: bool
    minutes: tuple[int, int]  # CI duration range


REPOS = (
    DemoRepo(1, "api", True, (4, 11)),
    DemoRepo(2, "web", True, (3, 8)),
    DemoRepo(3, "infra", False, (8, 20)),
)


class Delivery(NamedTuple):
    at: datetime
    id: str
    event: str
    payload: dict[str, Any]


def _template(name: str) -> dict[str, Any]:
    return copy.deepcopy(load(f"github.webhook.{name}"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _repository(template: dict[str, Any], repo: DemoRepo) -> dict[str, Any]:
    repository = template["repository"]
    full_name = f"{ORG}/{repo.name}"
    repository.update(
        id=900_000 + repo.index,
        name=repo.name,
        full_name=full_name,
        html_url=f"https://github.com/{full_name}",
        default_branch="main",
    )
    repository["owner"]["login"] = ORG
    return repository


def _run_payload(
    repo: DemoRepo, run_id: int, number: int, attempt: int, sha: str, action: str,
    status: str, conclusion: str | None, created: datetime, started: datetime, updated: datetime,
) -> dict[str, Any]:  # fmt: skip
    body = _template(
        f"octokit.workflow_run.{'completed' if action == 'completed' else 'requested'}.payload.json"
    )
    run = body["workflow_run"]
    run.update(
        id=run_id,
        run_number=number,
        run_attempt=attempt,
        name="CI",
        display_title=f"Merge change {number} into main",
        event="push",
        status=status,
        conclusion=conclusion,
        head_branch="main",
        head_sha=sha,
        created_at=_iso(created),
        run_started_at=_iso(started),
        updated_at=_iso(updated),
        html_url=f"https://github.com/{ORG}/{repo.name}/actions/runs/{run_id}",
        pull_requests=[],
    )
    body["action"] = action
    _repository(body, repo)
    return body


def _job_payload(
    repo: DemoRepo, job_id: int, run_id: int, attempt: int, name: str, passed: bool,
    started: datetime, completed: datetime,
) -> dict[str, Any]:  # fmt: skip
    outcome = "success" if passed else "failure"
    body = _template(f"octokit.workflow_job.completed.{outcome}.with-organization.payload.json")
    job = body["workflow_job"]
    steps = job["steps"]
    slice_ = (completed - started) / max(1, len(steps))
    for i, step in enumerate(steps):
        step["started_at"] = _iso(started + slice_ * i)
        step["completed_at"] = _iso(started + slice_ * (i + 1))
    job.update(
        id=job_id,
        run_id=run_id,
        run_attempt=attempt,
        name=name,
        workflow_name="CI",
        created_at=_iso(started),
        started_at=_iso(started),
        completed_at=_iso(completed),
        html_url=f"https://github.com/{ORG}/{repo.name}/actions/runs/{run_id}/job/{job_id}",
    )
    _repository(body, repo)
    return body


def _slot_deliveries(repo: DemoRepo, slot: int) -> Iterator[Delivery]:
    """What happened in one repository during one two-hour slot (deterministic)."""
    start = EPOCH + SLOT * slot
    rng = random.Random(f"{repo.name}:{slot}")
    busy = start.weekday() < 5 and 8 <= start.hour < 20
    if rng.random() > (0.75 if busy else 0.12):
        return
    run_id = 10_000_000 + slot * 10 + repo.index
    sha = _sha(repo.name, slot)
    created = start + timedelta(minutes=rng.randint(0, 90))
    merged = created - timedelta(minutes=rng.randint(1, 5))
    pr_number = slot % 100_000
    pr = _template("reallyfastci.pull_request.closed.merged.json")
    pr["pull_request"].update(
        id=50_000_000 + slot * 10 + repo.index,
        number=pr_number,
        title=f"Change {pr_number}",
        state="closed",
        created_at=_iso(merged - timedelta(hours=rng.uniform(2, 60))),
        updated_at=_iso(merged),
        merged_at=_iso(merged),
        closed_at=_iso(merged),
        merge_commit_sha=sha,
        html_url=f"https://github.com/{ORG}/{repo.name}/pull/{pr_number}",
    )
    pr["pull_request"]["head"]["sha"] = _sha("head", repo.name, slot)
    pr["pull_request"]["base"]["ref"] = "main"
    pr["number"] = pr_number
    _repository(pr, repo)
    yield Delivery(merged, f"demo-pr-{repo.name}-{slot}", "pull_request", pr)

    roll = rng.random()
    outcome = "success" if roll < 0.85 else ("failure" if roll < 0.97 else "cancelled")
    attempts = [outcome]
    if outcome == "failure" and rng.random() < 0.4:
        attempts.append("success")  # flaky: passes on a re-run of the same commit
    begin = created
    for attempt, conclusion in enumerate(attempts, start=1):
        started = begin + timedelta(seconds=rng.randint(5, 120))
        finished = started + timedelta(minutes=rng.uniform(*repo.minutes))
        args = (repo, run_id, slot % 10_000, attempt, sha)
        yield Delivery(begin, f"demo-run-{run_id}-{attempt}-requested", "workflow_run",
                       _run_payload(*args, "requested", "queued", None, begin, started, begin))  # fmt: skip
        middle = started + (finished - started) * rng.uniform(0.3, 0.7)
        for k, (name, s, e) in enumerate((("build", started, middle), ("test", middle, finished))):
            passed = conclusion == "success" or name == "build"
            yield Delivery(e, f"demo-job-{run_id}-{attempt}-{k}", "workflow_job",
                           _job_payload(repo, run_id * 10 + attempt * 2 + k, run_id, attempt,
                                        name, passed, s, e))  # fmt: skip
        yield Delivery(finished, f"demo-run-{run_id}-{attempt}-completed", "workflow_run",
                       _run_payload(*args, "completed", "completed", conclusion, begin, started,
                                    finished))  # fmt: skip
        begin = finished + timedelta(minutes=rng.randint(2, 15))
    if repo.deploys and attempts[-1] == "success" and rng.random() < 0.7:
        yield from _deployment(repo, slot, sha, begin, rng)
        if rng.random() < 0.12:
            yield from _incident(repo, slot, begin, rng)


def _deployment(
    repo: DemoRepo, slot: int, sha: str, created: datetime, rng: random.Random
) -> Iterator[Delivery]:
    deployment_id = 70_000_000 + slot * 10 + repo.index
    body = _template("octokit.deployment.payload.json")
    body["deployment"].update(
        id=deployment_id, sha=sha, ref="main", environment="production", created_at=_iso(created),
        updated_at=_iso(created), production_environment=True,
    )  # fmt: skip
    body.pop("workflow", None)
    body.pop("workflow_run", None)
    _repository(body, repo)
    yield Delivery(created, f"demo-deploy-{deployment_id}", "deployment", body)
    done = created + timedelta(minutes=rng.randint(3, 12))
    status = _template("octokit.deployment_status.payload.json")
    status["deployment"] = copy.deepcopy(body["deployment"])
    status["deployment_status"].update(
        id=deployment_id * 10 + 1,
        state="success" if rng.random() < 0.93 else "failure",
        environment="production",
        created_at=_iso(done),
        updated_at=_iso(done),
    )
    _repository(status, repo)
    yield Delivery(done, f"demo-deploy-status-{deployment_id}", "deployment_status", status)


def _incident(
    repo: DemoRepo, slot: int, deployed: datetime, rng: random.Random
) -> Iterator[Delivery]:
    """An issue labelled ``incident`` opened after a deployment, then closed hours later."""
    issue_id = 80_000_000 + slot * 10 + repo.index
    number = 100_000 + slot % 100_000
    opened = deployed + timedelta(minutes=rng.randint(20, 180))
    closed = opened + timedelta(minutes=rng.randint(30, 600))
    for action, at in (("labeled", opened), ("closed", closed)):
        body = _template("octokit.issues.labeled.payload.json")
        issue = body["issue"]
        label = {**issue["labels"][0], "name": "incident", "default": False}
        issue.update(
            id=issue_id,
            number=number,
            title=f"Errors after deploy of change {slot % 10_000}",
            html_url=f"https://github.com/{ORG}/{repo.name}/issues/{number}",
            labels=[label],
            state="closed" if action == "closed" else "open",
            created_at=_iso(opened),
            updated_at=_iso(at),
            closed_at=_iso(closed) if action == "closed" else None,
        )
        body.update(action=action, label=label)
        _repository(body, repo)
        yield Delivery(at, f"demo-incident-{issue_id}-{action}", "issues", body)


def deliveries(since: datetime, until: datetime) -> list[Delivery]:
    """Every demo delivery whose time falls in (since, until], oldest first."""
    first = int((since - EPOCH) / SLOT) - 1
    last = int((until - EPOCH) / SLOT)
    found = [
        d
        for slot in range(first, last + 1)
        for repo in REPOS
        for d in _slot_deliveries(repo, slot)
        if since < d.at <= until
    ]
    return sorted(found, key=lambda d: d.at)


class Feed:
    """The demo job: first a backfill of ``days``, then whatever became due since the last pass."""

    def __init__(self, days: int) -> None:
        self.days = days
        self.since: datetime | None = None

    def __call__(self, session: Session, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        since = self.since or now - timedelta(days=self.days)
        due = deliveries(since, now)
        for delivery in due:
            webhooks.ingest(
                session, delivery_id=delivery.id, event=delivery.event, payload=delivery.payload
            )
        self.since = now
        return len(due)
