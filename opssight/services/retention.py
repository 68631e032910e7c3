"""Retention: raw webhook delivery ids and HTTP ETags older than ``OPSSIGHT_RETENTION_DAYS``.

Rows are deleted oldest-first in batches, one short transaction each, so webhook ingest and the
GitHub poll never wait long on a lock. A delivery id is kept at least 4 days (the setting's
minimum): GitHub redelivers deliveries of the last 3 days, and those must still be recognised.
An ETag not refreshed for that long (the poll's dated run windows, repositories no longer
synced) only costs one full read if its listing is asked for again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session, SQLModel, delete, select

from opssight.config import get_settings
from opssight.models import HttpEtag, WebhookDelivery
from opssight.models.base import utcnow

log = structlog.get_logger(__name__)

BATCH = 1000


def _prune(
    session: Session, model: type[SQLModel], key: Any, moment: Any, cutoff: datetime, batch: int
) -> int:
    deleted = 0
    while True:
        oldest = select(key).where(moment < cutoff).order_by(moment).limit(batch)
        result = session.exec(delete(model).where(key.in_(oldest)))
        session.commit()
        deleted += result.rowcount
        if result.rowcount < batch:
            return deleted


def prune(
    session: Session, *, days: int | None = None, now: datetime | None = None, batch: int = BATCH
) -> dict[str, int]:
    """Delete what is older than ``days`` (the setting by default); the count per table."""
    days = get_settings().retention_days if days is None else days
    cutoff = (now or utcnow()) - timedelta(days=days)
    counts = {
        "webhook_delivery": _prune(
            session, WebhookDelivery, WebhookDelivery.id, WebhookDelivery.received_at, cutoff, batch
        ),
        "http_etag": _prune(session, HttpEtag, HttpEtag.key, HttpEtag.updated_at, cutoff, batch),
    }
    if any(counts.values()):
        log.info("retention.pruned", before=cutoff.isoformat(), **counts)
    return counts
