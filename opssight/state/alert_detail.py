"""``/alerts/<id>``: one alert and every state change and acknowledgement it went through, live
from the ``alerts`` topic."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
import structlog
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.models import Alert
from opssight.services.alerting import queries
from opssight.services.alerting.queries import TransitionRow
from opssight.state.alerts import alert_cells, history_cells
from opssight.state.formatting import when
from opssight.state.live import live_view
from opssight.state.session import protected

log = structlog.get_logger(__name__)

HISTORY_LIMIT = 500


@dataclass(frozen=True)
class AlertDetail:
    alert: Alert | None
    transitions: list[TransitionRow]


def _fetch(alert_id: int) -> AlertDetail:
    with db.session_scope() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return AlertDetail(None, [])
        rows = queries.transitions(session, alert_id=alert_id, limit=HISTORY_LIMIT)
        session.expunge(alert)
        return AlertDetail(alert, rows)


def alert_id_of(path: str) -> int | None:
    """The id in ``/alerts/<id>`` (with or without the trailing slash)."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return int(last) if last.isdigit() and len(last) < 12 else None


@live_view("alerts")
class AlertDetailState(rx.State):
    shown_id: int = 0
    found: bool = False
    loaded: bool = False
    alert: dict[str, str] = {}
    labels: list[dict[str, str]] = []
    annotations: list[dict[str, str]] = []
    transitions: list[dict[str, str]] = []
    error: str = ""

    def _live_params(self) -> int | None:
        return self.shown_id if self.loaded and self.found else None

    @staticmethod
    def _fetch(alert_id: int) -> AlertDetail:
        return _fetch(alert_id)

    def _apply(self, data: AlertDetail) -> None:
        self.loaded, self.found, self.error = True, data.alert is not None, ""
        if data.alert is None:
            self.alert, self.labels, self.annotations, self.transitions = {}, [], [], []
            return
        a = data.alert
        self.alert = alert_cells(a) | {
            "fired": when(a.firing_at),
            "acknowledged": when(a.acknowledged_at) if a.acknowledged_at else "",
            "generator": a.generator_url or "",
        }
        self.labels = [{"name": k, "value": v} for k, v in sorted(a.labels.items())]
        self.annotations = [{"name": k, "value": v} for k, v in sorted(a.annotations.items())]
        self.transitions = [history_cells(t) | {"actor": t.actor or ""} for t in data.transitions]

    @rx.event
    @protected("read")
    async def load(self) -> None:
        found = alert_id_of(self.router.url.path)
        self.shown_id, self.loaded = found or 0, False
        if found is None:
            self._apply(AlertDetail(None, []))
            return
        try:
            self._apply(await asyncio.to_thread(_fetch, found))
        except SQLAlchemyError as exc:
            log.error("alert_detail.load_failed", error=str(exc).splitlines()[0])
            self.error = "The database is unreachable; this alert cannot be shown right now."
