"""Retention on SQLite and PostgreSQL: old webhook delivery ids and ETags go in batches; ids of
the last days stay, so GitHub's redeliveries (3-day window) are still recognised."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from opssight.config import ConfigError, get_settings
from opssight.jobs import runner
from opssight.models import HttpEtag, WebhookDelivery
from opssight.models.base import utcnow
from opssight.services import retention, source_config, webhooks

PING = (
    Path(__file__).parent.parent / "fixtures" / "github" / "webhooks" / "octokit.ping.payload.json"
)
DAY = timedelta(days=1)


def deliver(session: Session, delivery_id: str, age: timedelta) -> str:
    parsed = webhooks.validate("ping", json.loads(PING.read_text()))
    assert parsed is not None
    delivery = webhooks.prepare(delivery_id, "ping", parsed, received_at=utcnow() - age)
    return webhooks.store(session, delivery)


def test_old_delivery_ids_and_etags_are_pruned_in_batches(session: Session):
    now = utcnow()
    for day in range(10):  # one delivery a day, the newest 12 hours ago
        deliver(session, f"delivery-{day}", day * DAY + DAY / 2)
    for day in (0, 5, 200):
        etags = HttpEtag(
            key=f"{day:064d}", url=f"https://api.github.com/x?{day}", etag='"e"',
            updated_at=now - day * DAY,
        )  # fmt: skip
        session.add(etags)
    session.commit()

    counts = retention.prune(session, days=4, now=now, batch=2)

    assert counts == {"webhook_delivery": 6, "http_etag": 2}
    kept = sorted(session.exec(select(WebhookDelivery.id)).all())
    assert kept == [f"delivery-{day}" for day in range(4)]
    assert [e.url for e in session.exec(select(HttpEtag))] == ["https://api.github.com/x?0"]
    assert retention.prune(session, days=4, now=now) == {"webhook_delivery": 0, "http_etag": 0}


def test_redeliveries_within_githubs_window_are_still_duplicates(session: Session):
    deliver(session, "three-days-old", 3 * DAY - timedelta(minutes=1))
    deliver(session, "a-year-old", 365 * DAY)
    retention.prune(session)  # the default: 90 days
    assert deliver(session, "three-days-old", timedelta(0)) == "duplicate"
    assert deliver(session, "a-year-old", timedelta(0)) == "stored"  # forgotten: new again


def test_the_setting_keeps_githubs_redelivery_window(
    session: Session, monkeypatch: pytest.MonkeyPatch
):
    assert get_settings().retention_days == 90
    monkeypatch.setenv("OPSSIGHT_RETENTION_DAYS", "3")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="OPSSIGHT_RETENTION_DAYS"):
        get_settings()
    monkeypatch.setenv("OPSSIGHT_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    assert get_settings().retention_days == 30
    config = source_config.load(session)
    assert "retention" in [job.name for job in runner.planned_jobs(config, get_settings())]
