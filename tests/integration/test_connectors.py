"""Connector status rows, their ``connectors`` events, the demo feed and the Overview counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from opssight import db, events
from opssight.demo import connectors as demo_connectors
from opssight.models import AuditLog, ConnectorStatus, User, UserSession
from opssight.models.base import utcnow
from opssight.schemas.connector import ConnectorCheck
from opssight.services import connector_checks, connectors, overview

DEMO_DETAILS = {
    "github": "4,999/5,000 API requests left",
    "prometheus": "Prometheus 2.13.1",
    "alertmanager": "1 active, 1 dropped Alertmanager(s)",
}


def stored(url: str) -> dict[str, ConnectorStatus]:
    """The rows as a fresh request would see them."""
    with db.session_scope(url) as fresh:
        return {row.name: row for row in fresh.exec(select(ConnectorStatus))}


def test_two_checks_leave_one_row_with_the_latest_state(
    session: Session, database_url: str
) -> None:
    connectors.record_check(
        session, ConnectorCheck(name="prod-k8s", kind="kubernetes", state="ok", detail="3/3")
    )
    connectors.record_check(
        session,
        ConnectorCheck(
            name="prod-k8s", kind="kubernetes", state="degraded", detail="2/3", latency_ms=12.5
        ),
    )
    rows = stored(database_url)
    assert list(rows) == ["prod-k8s"]
    row = rows["prod-k8s"]
    assert (row.state, row.detail, row.latency_ms) == ("degraded", "2/3", 12.5)
    assert row.checked_at.tzinfo is not None


def test_last_success_only_on_ok_and_last_error_is_kept(
    session: Session, database_url: str
) -> None:
    connectors.record_check(
        session,
        ConnectorCheck(name="gh", kind="github", state="down", error="401 Bad credentials"),
    )
    down = stored(database_url)["gh"]
    assert down.last_success_at is None
    assert down.last_error == "401 Bad credentials"
    assert down.last_error_at is not None

    connectors.record_check(session, ConnectorCheck(name="gh", kind="github", state="ok"))
    ok = stored(database_url)["gh"]
    assert ok.state == "ok"
    assert ok.last_success_at is not None
    assert ok.last_success_at >= down.checked_at
    assert ok.last_error == "401 Bad credentials"
    assert ok.last_error_at == down.last_error_at

    connectors.record_check(session, ConnectorCheck(name="gh", kind="github", state="degraded"))
    degraded = stored(database_url)["gh"]
    assert degraded.state == "degraded"
    assert degraded.last_success_at == ok.last_success_at
    assert degraded.checked_at >= ok.checked_at


async def test_record_check_announces_the_connector(session: Session) -> None:
    bus = events.get_bus()
    assert bus.backend == "in-process"
    async with bus.subscribe("connectors") as subscription:
        connectors.record_check(
            session, ConnectorCheck(name="prometheus", kind="prometheus", state="ok")
        )
        event = await asyncio.wait_for(subscription.queue.get(), 2)
    assert event.topic == "connectors"
    assert event.keys == {"name": "prometheus"}


async def test_the_event_follows_the_commit(session: Session, database_url: str) -> None:
    """A listener that re-reads on the event already sees the new row."""
    async with events.get_bus().subscribe("connectors") as subscription:
        connectors.record_check(
            session, ConnectorCheck(name="am", kind="alertmanager", state="down")
        )
        event = await asyncio.wait_for(subscription.queue.get(), 2)
        assert stored(database_url)[event.keys["name"]].state == "down"


def test_demo_feed_records_the_recorded_payloads(session: Session, database_url: str) -> None:
    assert demo_connectors.feed(session) == 3
    rows = stored(database_url)
    assert {name: row.detail for name, row in rows.items()} == DEMO_DETAILS
    assert all(row.is_demo for row in rows.values())
    assert {row.state for row in rows.values()} == {"ok"}

    demo_connectors.feed(session)
    assert len(stored(database_url)) == 3


def test_the_demo_rate_limit_resets_within_the_coming_hour() -> None:
    now = datetime(2026, 11, 26, 7, 18, 30, tzinfo=UTC).timestamp()
    check = connector_checks.github_check("github", demo_connectors.rate_limit(now))
    assert check.facts["Rate resets"] == "2026-11-26 08:00 UTC"
    assert check.facts["Rate budget left"] == "4,999/5,000"  # the recording's figures otherwise


def test_forget_demo_keeps_real_connectors(session: Session, database_url: str) -> None:
    demo_connectors.feed(session)
    connectors.record_check(
        session, ConnectorCheck(name="prod-prometheus", kind="prometheus", state="ok")
    )
    assert connectors.forget_demo(session) == 3
    rows = stored(database_url)
    assert list(rows) == ["prod-prometheus"]
    assert rows["prod-prometheus"].is_demo is False
    assert connectors.forget_demo(session) == 0


async def test_forget_demo_announces_a_wildcard_change(session: Session) -> None:
    demo_connectors.feed(session)
    async with events.get_bus().subscribe("connectors") as subscription:
        connectors.forget_demo(session)
        event = await asyncio.wait_for(subscription.queue.get(), 2)
    assert event.keys == {"name": "*"}


def test_list_connectors_is_sorted_by_name(session: Session) -> None:
    for name in ("zeta", "alpha", "mid"):
        connectors.record_check(session, ConnectorCheck(name=name, kind="github", state="ok"))
    assert [row.name for row in connectors.list_connectors(session)] == ["alpha", "mid", "zeta"]


def test_overview_counts_match_the_rows(session: Session) -> None:
    demo_connectors.feed(session)
    user = User(login="alice")
    session.add(user)
    session.commit()
    session.refresh(user)
    session.add(UserSession(id="s1", user_id=user.id, expires_at=utcnow() + timedelta(hours=1)))
    session.add(
        AuditLog(actor_id=user.id, actor_login="alice", action="a", target_type="t", target_id="1")
    )
    session.add(
        AuditLog(actor_id=user.id, actor_login="alice", action="b", target_type="t", target_id="2")
    )
    session.commit()
    connectors.record_check(
        session, ConnectorCheck(name="prod", kind="github", state="down", latency_ms=41.6)
    )

    summary = overview.overview(session)
    counts = {card.label: card.count for card in summary.counts}
    assert {k: counts[k] for k in ("Connectors", "Users", "Sessions", "Audit entries")} == {
        "Connectors": 4,
        "Users": 1,
        "Sessions": 1,
        "Audit entries": 2,
    }
    assert counts["Workflow runs"] == 0
    cards = {card.name: card for card in summary.connectors}
    assert set(cards) == {*DEMO_DETAILS, "prod"}
    assert cards["github"].detail == DEMO_DETAILS["github"]
    assert cards["prod"].latency == "42 ms"
    assert cards["prod"].is_demo is False
    assert summary.demo is True


def test_overview_of_an_empty_database(session: Session) -> None:
    summary = overview.overview(session)
    assert summary.connectors == []
    assert all(card.count == 0 for card in summary.counts)
    assert summary.demo is False
