"""Demo connectors: each recorded health payload goes through the real check builder and service."""

from __future__ import annotations

from sqlmodel import Session

from opssight.demo.recordings import load
from opssight.schemas.connector import ConnectorCheck
from opssight.services import connector_checks
from opssight.services.connectors import record_check


def checks() -> list[ConnectorCheck]:
    demo = {"is_demo": True}
    return [
        connector_checks.github_check("github", load("github.get-rate-limit.200.json"), **demo),
        connector_checks.prometheus_check(
            "prometheus", load("prometheus.api-v1-status-buildinfo.200.json"), **demo
        ),
        connector_checks.alertmanager_check(
            "alertmanager", load("prometheus.api-v1-alertmanagers.200.json"), **demo
        ),
    ]


def feed(session: Session) -> int:
    """Record one round of demo connector checks; returns how many were recorded."""
    recorded = [record_check(session, check) for check in checks()]
    return len(recorded)
