"""Demo connectors: each recorded health payload goes through the real check builder and service."""

from __future__ import annotations

import copy
import time
from typing import Any

from sqlmodel import Session

from opssight.demo.recordings import load
from opssight.schemas.connector import ConnectorCheck
from opssight.services import connector_checks
from opssight.services.connectors import record_check


def rate_limit(now: float) -> dict[str, Any]:
    """The recorded ``/rate_limit`` answer with its windows shifted so the core one resets at the
    next full hour after ``now`` (a Unix time), as a live answer would; the recording's own
    resets are in 2023."""
    payload = copy.deepcopy(load("github.get-rate-limit.200.json"))
    shift = int(now) // 3600 * 3600 + 3600 - payload["resources"]["core"]["reset"]
    for window in [*payload["resources"].values(), payload.get("rate", {})]:
        if "reset" in window:
            window["reset"] += shift
    return payload


def checks() -> list[ConnectorCheck]:
    demo = {"is_demo": True}
    return [
        connector_checks.github_check("github", rate_limit(time.time()), **demo),
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
