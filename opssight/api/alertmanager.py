"""``POST /api/webhooks/alertmanager``: bearer token first, 2xx only after the commit.

401 before any parsing; 413/400/422 for bodies that are too large, not JSON or not a version 4
notification; 503 when no token is configured or the database cannot take it (Alertmanager
retries). Storing runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from opssight import db
from opssight.api.webhooks import BodyTooLarge, read_body
from opssight.config import get_settings
from opssight.schemas.alerting import AlertmanagerPayload
from opssight.services import connectors, source_config
from opssight.services.alerting import alertmanager, history
from opssight.telemetry import WEBHOOK_DELIVERIES

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


def _answer(status: int, result: str, detail: str, **headers: str) -> JSONResponse:
    WEBHOOK_DELIVERIES.labels("alertmanager", result).inc()
    return JSONResponse({"result": result, "detail": detail}, status_code=status, headers=headers)


def _store(payload: AlertmanagerPayload) -> int:
    with db.session_scope() as session:
        changed, events = alertmanager.store(session, payload)
        connectors.record_check(session, alertmanager.receipt_check(payload))
    history.publish(events)
    return changed


@router.post("/alertmanager")
async def receive(request: Request) -> JSONResponse:
    settings = get_settings()
    try:
        expected = (await source_config.current_async()).alertmanager_token
    except SQLAlchemyError as exc:  # the saved token cannot be read: nor could alerts be stored
        log.error("alertmanager.unavailable", error=str(exc))
        return _answer(
            503, "unavailable", "the alerts could not be stored now; retry", **{"Retry-After": "5"}
        )
    if expected is None:
        return _answer(
            503, "disabled", "no webhook token: set it on the Alertmanager connection in Settings"
        )
    if not alertmanager.token_is_valid(expected, request.headers.get("authorization")):
        log.warning(
            "alertmanager.bad_token", client=request.client.host if request.client else None
        )
        return _answer(
            401,
            "bad_token",
            "Authorization: Bearer <token> is required",
            **{"WWW-Authenticate": "Bearer"},
        )
    try:
        body = await read_body(request, settings.alertmanager_webhook_max_bytes)
    except BodyTooLarge:
        return _answer(413, "too_large", "payload exceeds the size limit")
    try:
        payload = alertmanager.parse(body)
    except alertmanager.BadJson as exc:
        log.warning("alertmanager.bad_json", error=str(exc))
        return _answer(400, "bad_json", "body is not JSON")
    except alertmanager.InvalidPayload as exc:
        log.warning("alertmanager.invalid", error=str(exc))
        return _answer(422, "invalid", str(exc))
    try:
        changed = await asyncio.to_thread(_store, payload)
    except (OperationalError, InterfaceError, PoolTimeout) as exc:  # the database is away
        log.error("alertmanager.unavailable", error=str(exc).splitlines()[0])
        return _answer(
            503, "unavailable", "the alerts could not be stored now; retry", **{"Retry-After": "5"}
        )
    log.info("alertmanager.received", alerts=len(payload.alerts), changed=changed)
    return _answer(200, "stored", f"{len(payload.alerts)} alert(s), {changed} state change(s)")
