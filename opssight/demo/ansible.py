"""Demo Ansible runs: the callback's recorded batches, restamped, through the ingest service.

Two real runs of ``recordings/ansible.deploy.yaml`` were recorded as the callback sent them (a
deploy that succeeded, one whose migration failed). One run starts in each half-hour slot, every
fifth one the failed recording; each is replayed batch by batch through
``services.automation.ingest.store`` with its times moved into the slot and its uuids derived
from the slot, so a restart sends the same runs again and the upserts keep one copy.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from opssight.demo.recordings import load
from opssight.models.base import utcnow
from opssight.schemas.automation import AutomationBatch
from opssight.services.automation import ingest
from opssight.services.connectors import record_check

SLOT = timedelta(minutes=30)
START = timedelta(minutes=7)  # into its slot
EPOCH = datetime(2020, 1, 6, tzinfo=UTC)
HISTORY = timedelta(hours=12)
NAMESPACE = uuid.UUID("7d0f5a52-3b8e-4a35-9f7b-0c5e1f3d2a61")
IDS = ("id", "play_id", "task_id")
TIMES = ("started_at", "ended_at")


def recording(slot: int) -> list[dict[str, Any]]:
    return load(f"ansible.deploy.{'failed' if slot % 5 == 0 else 'ok'}.jsonl")


def _restamped(value: Any, slot: int, delta: timedelta) -> Any:
    if isinstance(value, list):
        return [_restamped(v, slot, delta) for v in value]
    if not isinstance(value, dict):
        return value
    moved: dict[str, Any] = {}
    for key, item in value.items():
        if key in IDS and isinstance(item, str):
            moved[key] = str(uuid.uuid5(NAMESPACE, f"{slot}:{item}"))
        elif key in TIMES and isinstance(item, str):
            moved[key] = (datetime.fromisoformat(item) + delta).isoformat()
        elif key in ("extra_vars", "arguments"):
            moved[key] = item
        else:
            moved[key] = _restamped(item, slot, delta)
    return moved


def batches(slot: int) -> list[AutomationBatch]:
    """The slot's run: its recording with times moved to the slot and uuids of its own."""
    recorded = recording(slot)
    began = datetime.fromisoformat(recorded[0]["run"]["started_at"])
    delta = EPOCH + slot * SLOT + START - began
    return [AutomationBatch.model_validate(_restamped(b, slot, delta)) for b in recorded]


def slots(since: datetime, until: datetime) -> list[int]:
    """The slots whose run starts in (since, until]."""
    first = int((since - START - EPOCH) / SLOT)
    last = int((until - START - EPOCH) / SLOT)
    return [s for s in range(first, last + 1) if since < EPOCH + s * SLOT + START <= until]


class Feed:
    """The demo job: the last 12 hours of runs first, then each new slot's run as it comes due."""

    def __init__(self) -> None:
        self.since: datetime | None = None

    def __call__(self, session: Session, now: datetime | None = None) -> int:
        """Replay the runs now due; returns how many batches were stored."""
        now = now or utcnow()
        due = slots(self.since or now - HISTORY, now)
        stored = 0
        for slot in due:
            for batch in batches(slot):
                ingest.store(session, batch, demo=True)
                stored += 1
        if due:
            record_check(session, ingest.receipt_check(batch, demo=True))
        self.since = now
        return stored
