"""The demo Prometheus source: answers its recorded queries with the recorded real payloads.

It goes through the same parsing and error classification as a real server
(``integrations.prometheus``): ``up`` answers the documented vector and matrix (timestamps of
2015), ``sum(up`` answers the 400 body a real Prometheus sent. Other queries are refused with a
message saying so: the demo never invents data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opssight.demo.recordings import load
from opssight.integrations.prometheus import (
    PrometheusError,
    QueryResult,
    raise_for_error,
    to_result,
)

NAME = "demo"
INSTANT = {
    "up": (200, "prometheus.api-v1-query.vector.200.json"),
    "sum(up": (400, "prometheus.api-v1-query.bad-data.400.json"),
}
RANGE = {
    "up": (200, "prometheus.api-v1-query_range.matrix.200.json"),
    "sum(up": (400, "prometheus.api-v1-query.bad-data.400.json"),
}
EXAMPLES = ("up", "sum(up")


class RecordedPrometheus:
    """A ``integrations.prometheus.Client`` over recordings."""

    source = NAME

    def _answer(
        self, recorded: dict[str, tuple[int, str]], promql: str, *, ranged: bool = False
    ) -> QueryResult:
        found = recorded.get(promql.strip())
        if found is None:
            raise PrometheusError(
                NAME,
                "The demo source answers only its recorded queries: "
                + ", ".join(EXAMPLES)
                + ". Configure OPSSIGHT_PROMETHEUS_URL to query a real Prometheus.",
            )
        status, name = found
        body = load(name)
        raise_for_error(NAME, status, body)
        return to_result(body["data"]["result"], ranged=ranged)

    def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        return self._answer(INSTANT, promql)

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> QueryResult:
        return self._answer(RANGE, promql, ranged=True)

    def label_values(self, label: str) -> list[str]:
        if label != "__name__":
            return []
        return sorted({s.labels["__name__"] for s in self._answer(INSTANT, "up").series})

    def build_info(self) -> dict[str, Any]:
        return load("prometheus.api-v1-status-buildinfo.200.json")

    def close(self) -> None:
        pass
