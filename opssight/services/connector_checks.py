"""Turn a source's health payload into a ConnectorCheck (shared by real checks and the demo)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opssight.schemas.connector import ConnectorCheck
from opssight.schemas.sources import (
    GitHubRateLimit,
    NodeList,
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


def kubernetes_check(name: str, node_list: dict[str, Any], **common: Any) -> ConnectorCheck:
    nodes = NodeList.model_validate(node_list).items
    ready = sum(node.ready for node in nodes)
    return ConnectorCheck(
        name=name,
        kind="kubernetes",
        state="ok" if nodes and ready == len(nodes) else "degraded",
        detail=f"{ready}/{len(nodes)} nodes Ready",
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
