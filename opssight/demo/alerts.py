"""The demo Alertmanager: recorded real webhook notifications, restamped to recent times and fed
through the same ingestion service as ``POST /api/webhooks/alertmanager``, as alerts of the
source ``alertmanager-demo``.

Each recorded alert keeps its labels, annotations and fingerprint; only its status and times
change, on a fixed 30-minute cycle: the three ``JustATestAlert_1`` instances fire at the cycle's
start (one for 25 minutes, one from minute 5 to 15, one until minute 29) and
``CPUThrottlingHigh`` fires twice for a minute (its recorded duration), so the history shows
firings, resolutions and flaps. The first pass replays the last six hours; later passes feed
what happened since the previous one (or since the newest stored change, after a restart).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from opssight.demo.recordings import load
from opssight.models import Alert
from opssight.models.base import utcnow
from opssight.schemas.alerting import AlertmanagerPayload
from opssight.services.alerting import alertmanager, history

SOURCE = "alertmanager-demo"
PERIOD = timedelta(minutes=30)
HISTORY = timedelta(hours=6)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
NO_END = "0001-01-01T00:00:00Z"  # Alertmanager's zero time: still firing
FIRING = "alertmanager.prometheus-msteams.webhook.firing.json"
RESOLVED = "alertmanager.prom2teams.webhook.resolved.json"


@dataclass(frozen=True)
class Episode:
    """One recorded alert firing ``fires`` into each cycle and resolving at ``resolves``."""

    recording: str
    index: int
    fires: timedelta
    resolves: timedelta


MINUTE = timedelta(minutes=1)
SCHEDULE = (
    Episode(FIRING, 0, 0 * MINUTE, 25 * MINUTE),
    Episode(FIRING, 1, 5 * MINUTE, 15 * MINUTE),
    Episode(FIRING, 2, 0 * MINUTE, 29 * MINUTE),
    Episode(RESOLVED, 0, 2 * MINUTE, 3 * MINUTE),
    Episode(RESOLVED, 0, 12 * MINUTE, 13 * MINUTE),
)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def notification(episode: Episode, starts: datetime, ends: datetime | None) -> AlertmanagerPayload:
    """The recording with only this alert, firing since ``starts`` (resolved at ``ends``)."""
    body = copy.deepcopy(load(episode.recording))
    alert = body["alerts"][episode.index]
    alert["status"] = body["status"] = "firing" if ends is None else "resolved"
    alert["startsAt"], alert["endsAt"] = _stamp(starts), NO_END if ends is None else _stamp(ends)
    body["alerts"] = [alert]
    return AlertmanagerPayload.model_validate(body)


def notifications(since: datetime, until: datetime) -> list[tuple[datetime, AlertmanagerPayload]]:
    """What the demo Alertmanager sent in ``(since, until]``, oldest first."""
    found = []
    cycle = EPOCH + ((since - EPOCH) // PERIOD) * PERIOD
    while cycle <= until:
        for episode in SCHEDULE:
            fires, resolves = cycle + episode.fires, cycle + episode.resolves
            if since < fires <= until:
                found.append((fires, notification(episode, fires, None)))
            if since < resolves <= until:
                found.append((resolves, notification(episode, fires, resolves)))
        cycle += PERIOD
    return sorted(found, key=lambda pair: pair[0])


class Feed:
    """The demo job: feeds the notifications due since the last pass."""

    def __init__(self) -> None:
        self.fed_until: datetime | None = None

    def __call__(self, session: Session) -> int:
        now = utcnow()
        if self.fed_until is None:
            newest = session.exec(
                select(func.max(Alert.updated_at)).where(Alert.source == SOURCE)
            ).one()
            self.fed_until = max(newest or now - HISTORY, now - HISTORY)
        changed = 0
        for _, payload in notifications(self.fed_until, now):
            moved, events = alertmanager.store(session, payload, source=SOURCE)
            history.publish(events)
            changed += moved
        self.fed_until = now
        return changed
