"""Overview: connector cards and stored-object counts, kept live from the ``connectors`` topic."""

from __future__ import annotations

import asyncio

import reflex as rx
import structlog
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.services.overview import OverviewSummary, overview
from opssight.state.live import live_view
from opssight.state.session import protected

log = structlog.get_logger(__name__)


@live_view("connectors", "pipelines", "deployments", "alerts", "automation")
class OverviewState(rx.State):
    connectors: list[dict[str, str]] = []
    counts: list[dict[str, str]] = []
    pipelines: dict[str, str] = {}
    alerts: dict[str, str] = {}
    automation: dict[str, str] = {}
    demo: bool = False
    loaded: bool = False
    error: str = ""

    def _live_params(self) -> bool | None:
        return True if self.loaded else None

    @staticmethod
    def _fetch(_params: object = None) -> OverviewSummary:
        with db.read_session_scope() as session:
            return overview(session)

    def _apply(self, summary: OverviewSummary) -> None:
        self.connectors = [
            {
                "name": card.name,
                "kind": card.kind,
                "state": card.state,
                "demo": "demo" if card.is_demo else "",
                "detail": card.detail,
                "latency": card.latency,
                "checked": card.checked_at.strftime("%H:%M:%S UTC"),
                "error": card.last_error,
            }
            for card in summary.connectors
        ]
        self.counts = [{"label": c.label, "count": f"{c.count:,}"} for c in summary.counts]
        card = summary.pipelines
        self.pipelines = {
            "runs": f"{card.runs:,}",
            "running": f"{card.running:,}",
            "failed": f"{card.failed:,}",
            "success": "—" if card.success_rate is None else f"{card.success_rate:.0%}",
        }
        firing = summary.alerts
        self.alerts = {
            "critical": f"{firing.critical:,}",
            "warning": f"{firing.warning:,}",
            "other": f"{firing.other:,}",
        }
        ansible = summary.automation
        self.automation = {
            "runs": f"{ansible.runs:,}",
            "running": f"{ansible.running:,}",
            "failed": f"{ansible.failed:,}",
            "hosts": f"{ansible.hosts:,}"
            + (f" ({ansible.failing_hosts:,} failing)" if ansible.failing_hosts else ""),
        }
        self.demo = summary.demo
        self.loaded = True
        self.error = ""

    @rx.event
    @protected("read")
    async def load(self) -> None:
        try:
            self._apply(await asyncio.to_thread(self._fetch))
        except SQLAlchemyError as exc:
            log.error("overview.load_failed", error=str(exc))
            self.error = "The database is unreachable; showing nothing rather than stale numbers."
