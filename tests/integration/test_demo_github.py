"""The GitHub demo feed: recorded payloads re-stamped, fed through the webhook service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from opssight.demo import github as demo
from opssight.models import (
    Deployment,
    Incident,
    PullRequest,
    Repository,
    WebhookDelivery,
    WorkflowRun,
)
from opssight.services import dora


def count(session: Session, model: type[SQLModel]) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_deliveries_are_deterministic_unique_and_in_order():
    until = datetime(2026, 11, 20, 12, tzinfo=UTC)
    first = demo.deliveries(until - timedelta(days=7), until)
    again = demo.deliveries(until - timedelta(days=7), until)
    assert [d.id for d in first] == [d.id for d in again]
    assert len({d.id for d in first}) == len(first) > 50
    assert [d.at for d in first] == sorted(d.at for d in first)
    assert {d.event for d in first} >= {
        "workflow_run",
        "workflow_job",
        "pull_request",
        "deployment",
        "deployment_status",
        "issues",
    }


def test_backfill_then_restart_stores_each_delivery_once(session: Session):
    now = datetime.now(UTC)
    stored = demo.Feed(days=3)(session, now)
    runs, deliveries = count(session, WorkflowRun), count(session, WebhookDelivery)
    assert stored == deliveries and runs > 0 and count(session, PullRequest) > 0
    assert count(session, Deployment) > 0
    names = set(session.exec(select(Repository.full_name)))
    assert names and all(name.startswith("demo-org/") for name in names)

    assert demo.Feed(days=3)(session, now) == stored  # a restart re-sends the same deliveries...
    assert (count(session, WorkflowRun), count(session, WebhookDelivery)) == (runs, deliveries)


def test_a_running_feed_only_sends_what_became_due(session: Session):
    feed = demo.Feed(days=2)
    now = datetime(2026, 11, 18, 12, tzinfo=UTC)  # a busy weekday: runs every slot or two
    backfilled = feed(session, now)
    assert feed.since == now
    later = now + timedelta(hours=4)
    due = [d for d in demo.deliveries(now, later)]
    assert due and feed(session, later) == len(due)  # exactly what became due, nothing older
    assert count(session, WebhookDelivery) == backfilled + len(due)


def test_demo_incidents_give_a_change_failure_rate_and_time_to_restore(session: Session):
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    demo.Feed(days=30)(session, now)
    incidents = session.exec(select(Incident)).all()
    assert incidents and all(i.counted and i.source == "github-issue" for i in incidents)
    assert any(i.resolved_at is not None for i in incidents)
    report = dora.dora_report(session, start=now - timedelta(days=28), end=now, deploy_workflows=[])
    assert 0 < report.change_failure_rate.value < 0.5
    assert report.time_to_restore.value is not None
