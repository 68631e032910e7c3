"""Prometheus HTTP API through prometheus-api-client: queries, label values, build info.

Synchronous (callers run it in a worker thread). Errors are classified: ``QueryError`` carries
Prometheus's own ``errorType`` and ``error`` from the error envelope (bad PromQL, execution
errors, query timeouts) verbatim; ``SourceDown`` means the server could not be reached, timed
out, or answered without Prometheus's envelope (a proxy's 502, a 401 from an auth proxy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from opssight.config import PrometheusSource


class PrometheusError(Exception):
    """A request to the Prometheus source ``source`` failed."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


class QueryError(PrometheusError):
    """Prometheus refused or failed the query; ``message`` is its ``error`` text, verbatim."""

    def __init__(self, source: str, error_type: str, message: str) -> None:
        super().__init__(source, message)
        self.error_type = error_type


class SourceDown(PrometheusError):
    """Unreachable, timed out, or not answering as Prometheus does."""


@dataclass(frozen=True)
class Series:
    """One label set and its ``(unix seconds, value)`` points (one point for an instant query)."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class QueryResult:
    result_type: str  # vector, matrix, scalar or string
    series: list[Series] = field(default_factory=list)


class Client(Protocol):
    """What the metrics service asks of a source (a real server or the recorded demo)."""

    source: str

    def query(self, promql: str, at: datetime | None = None) -> QueryResult: ...

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> QueryResult: ...

    def label_values(self, label: str) -> list[str]: ...

    def build_info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _number(value: str) -> float:
    return float(value)  # Prometheus writes NaN, +Inf and -Inf as float() reads them


def to_result(result: Any, *, ranged: bool = False) -> QueryResult:
    """The ``data.result`` of a query answer as series (its shape tells the result type; a
    range query's is always a matrix, even empty)."""
    if isinstance(result, list) and result and not isinstance(result[0], dict):
        at, value = result  # scalar or string: [time, "value"]
        try:
            return QueryResult("scalar", [Series({}, [(float(at), _number(value))])])
        except ValueError:
            return QueryResult("string", [Series({"value": str(value)}, [])])
    if ranged or (result and "values" in result[0]):
        return QueryResult(
            "matrix",
            [Series(r["metric"], [(float(t), _number(v)) for t, v in r["values"]]) for r in result],
        )
    return QueryResult(
        "vector",
        [Series(r["metric"], [(float(r["value"][0]), _number(r["value"][1]))]) for r in result],
    )


def raise_for_error(source: str, status: int, body: Any) -> None:
    """Raise ``QueryError`` for Prometheus's error envelope, ``SourceDown`` for other failures."""
    if isinstance(body, dict) and body.get("status") == "error":
        raise QueryError(source, str(body.get("errorType", "")), str(body.get("error", "")))
    if status != 200:
        raise SourceDown(source, f"HTTP {status} without a Prometheus answer")


class PrometheusClient:
    """One source's client; close it (or use ``with``) when done."""

    def __init__(self, source: PrometheusSource, *, timeout: float) -> None:
        self.source = source.name
        self._url = source.url
        session = requests.Session()
        session.hooks["response"].append(self._check)
        headers = {"Authorization": f"Bearer {source.token}"} if source.token else None
        self._api = PrometheusConnect(
            url=source.url,
            headers=headers,
            auth=source.basic_auth,
            session=session,
            timeout=timeout,  # type: ignore[arg-type] (requests takes floats)
            retry=Retry(total=0, raise_on_status=False),
        )

    def _check(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: every non-200 answer becomes our error before the library sees it."""
        if response.status_code == 200:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        raise_for_error(self.source, response.status_code, body)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except requests.Timeout as exc:
            raise SourceDown(self.source, f"timed out ({self._url}): {exc}") from None
        except requests.ConnectionError as exc:
            raise SourceDown(self.source, f"unreachable ({self._url}): {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise SourceDown(self.source, f"{self._url}: {exc}") from None

    def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        params = {"time": f"{at.timestamp():.3f}"} if at else None
        return to_result(self._call(self._api.custom_query, promql, params=params))

    def query_range(
        self, promql: str, start: datetime, end: datetime, step_seconds: float
    ) -> QueryResult:
        result = self._call(
            self._api.custom_query_range, promql, start, end, step=f"{step_seconds:g}"
        )
        return to_result(result, ranged=True)

    def label_values(self, label: str) -> list[str]:
        return list(self._call(self._api.get_label_values, label))

    def build_info(self) -> dict[str, Any]:
        """``GET /api/v1/status/buildinfo`` (the library has no call for it)."""
        api = self._api
        response = self._call(
            api._session.get,
            f"{self._url}/api/v1/status/buildinfo",
            headers=api.headers,
            auth=api.auth,
            timeout=api._timeout,
        )
        return response.json()

    def active_targets(self) -> list[dict[str, Any]]:
        """``GET /api/v1/targets?state=active``: the scrape targets and their health."""
        body = self._call(self._api.get_targets, state="active")
        return list(body.get("activeTargets") or [])

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: requests.ConnectionError) -> str:
    """The innermost cause ("Connection refused"), not urllib3's long retry wrapper."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause)
    return text.rsplit("] ", 1)[-1] if "] " in text else text


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    """Call ``fn`` and return its answer with the milliseconds it took."""
    started = time.perf_counter()
    answer = fn(*args)
    return answer, (time.perf_counter() - started) * 1000
