"""Turn a source's health payload into a ConnectorCheck (shared by real checks and the demo)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opssight.schemas.connector import ConnectorCheck
from opssight.schemas.sources import (
    GitHubRateLimit,
    PrometheusAlertmanagers,
    PrometheusBuildInfo,
)

LOW_RATE_BUDGET = 0.1


def rate_facts(remaining: int, limit: int, reset: int) -> dict[str, str]:
    """The rate-limit figures a GitHub connector panel shows."""
    resets = datetime.fromtimestamp(reset, UTC)
    return {
        "Rate budget left": f"{remaining:,}/{limit:,}",
        "Rate resets": f"{resets:%Y-%m-%d %H:%M} UTC",
    }


def github_check(name: str, rate_limit: dict[str, Any], **common: Any) -> ConnectorCheck:
    core = GitHubRateLimit.model_validate(rate_limit).resources["core"]
    low = core.remaining < core.limit * LOW_RATE_BUDGET
    return ConnectorCheck(
        name=name,
        kind="github",
        state="degraded" if low else "ok",
        detail=f"{core.remaining:,}/{core.limit:,} API requests left",
        facts=rate_facts(core.remaining, core.limit, core.reset),
        **common,
    )


def kubernetes_check(
    name: str, *, state: str, error: str | None, nodes_ready: int, nodes_total: int, **common: Any
) -> ConnectorCheck:
    """A watched cluster: down with its error when unreachable or refused, degraded while
    syncing or with nodes not Ready."""
    if state not in ("ok", "syncing"):
        return ConnectorCheck(
            name=name, kind="kubernetes", state="down", detail=state, error=error, **common
        )
    healthy = state == "ok" and nodes_total > 0 and nodes_ready == nodes_total
    return ConnectorCheck(
        name=name,
        kind="kubernetes",
        state="ok" if healthy else "degraded",
        detail=f"{nodes_ready}/{nodes_total} nodes Ready" + (" (syncing)" if state != "ok" else ""),
        **common,
    )


def prometheus_check(name: str, build_info: dict[str, Any], **common: Any) -> ConnectorCheck:
    info = PrometheusBuildInfo.model_validate(build_info)
    return ConnectorCheck(
        name=name,
        kind="prometheus",
        state="ok" if info.status == "success" else "degraded",
        detail=f"Prometheus {info.data.version}",
        **common,
    )


def prometheus_down(name: str, error: str, since: datetime, **common: Any) -> ConnectorCheck:
    """A source that could not be reached; ``since`` is when it first went down."""
    return ConnectorCheck(
        name=name,
        kind="prometheus",
        state="down",
        detail=f"unreachable since {since:%Y-%m-%d %H:%M:%S} UTC",
        error=error[:2000],
        facts={"Down since": since.isoformat()},
        **common,
    )


def alertmanager_check(name: str, alertmanagers: dict[str, Any], **common: Any) -> ConnectorCheck:
    data = PrometheusAlertmanagers.model_validate(alertmanagers).data
    active, dropped = len(data.activeAlertmanagers), len(data.droppedAlertmanagers)
    return ConnectorCheck(
        name=name,
        kind="alertmanager",
        state="ok" if active else "down",
        detail=f"{active} active, {dropped} dropped Alertmanager(s)",
        **common,
    )
