"""Prometheus's own alerting state: ``GET /api/v1/rules`` and ``GET /api/v1/alerts``.

Errors are classified as in ``integrations.prometheus`` (``QueryError`` for Prometheus's error
envelope, ``SourceDown`` for anything else). Synchronous: callers run it in a worker thread.
"""

from __future__ import annotations

from typing import Any

import httpx

from opssight.config import PrometheusSource
from opssight.integrations.prometheus import SourceDown, raise_for_error
from opssight.schemas.alerting import PrometheusAlerts, PrometheusRules


def _get(source: PrometheusSource, path: str, *, timeout: float) -> Any:
    headers = {"Authorization": f"Bearer {source.token}"} if source.token else None
    try:
        response = httpx.get(
            f"{source.url}{path}", headers=headers, auth=source.basic_auth, timeout=timeout
        )
    except httpx.TimeoutException as exc:
        raise SourceDown(source.name, f"timed out ({source.url}): {exc}") from None
    except httpx.HTTPError as exc:
        raise SourceDown(source.name, f"unreachable ({source.url}): {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    raise_for_error(source.name, response.status_code, body)
    if not isinstance(body, dict):
        raise SourceDown(source.name, f"{source.url}{path}: not a Prometheus answer")
    return body


def rules(source: PrometheusSource, *, timeout: float) -> PrometheusRules:
    return PrometheusRules.model_validate(_get(source, "/api/v1/rules", timeout=timeout))


def alerts(source: PrometheusSource, *, timeout: float) -> PrometheusAlerts:
    return PrometheusAlerts.model_validate(_get(source, "/api/v1/alerts", timeout=timeout))
