"""``POST /api/automation/events``: batches from the OpsSight Ansible callback.

The bearer token (``OPSSIGHT_ANSIBLE_TOKEN`` or an issued token) is checked in constant time and
answered 401 before the body is read; then 413/400/422 for bodies that are too large, not JSON
or not a batch; 503 when the database cannot take it (the callback keeps the batch and retries);
200 after the commit. Database work runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from opssight import db
from opssight.api.webhooks import BodyTooLarge, read_body
from opssight.config import get_settings
from opssight.schemas.automation import AutomationBatch
from opssight.services import connectors
from opssight.services.automation import ingest, tokens
from opssight.telemetry import WEBHOOK_DELIVERIES

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/automation", tags=["automation"])


def _answer(status: int, result: str, detail: str, **headers: str) -> JSONResponse:
    WEBHOOK_DELIVERIES.labels("ansible", result).inc()
    return JSONResponse({"result": result, "detail": detail}, status_code=status, headers=headers)


def _issued(presented: str) -> bool:
    with db.session_scope() as session:
        return tokens.verify(session, presented) is not None


def _store(batch: AutomationBatch) -> ingest.Stored:
    with db.session_scope() as session:
        stored = ingest.store(session, batch)
        connectors.record_check(session, ingest.receipt_check(batch))
    return stored


async def _authorised(request: Request) -> bool:
    presented = tokens.bearer(request.headers.get("authorization"))
    if presented is None:
        return False
    setting = get_settings().ansible_token
    if tokens.matches_setting(setting.get_secret_value() if setting else None, presented):
        return True
    return await asyncio.to_thread(_issued, presented)


@router.post("/events")
async def receive(request: Request) -> JSONResponse:
    unavailable = (OperationalError, InterfaceError, PoolTimeout)  # the database is away
    try:
        authorised = await _authorised(request)
    except unavailable as exc:
        log.error("automation.unavailable", error=str(exc).splitlines()[0])
        return _answer(
            503, "unavailable", "cannot check the token now; retry", **{"Retry-After": "5"}
        )
    if not authorised:
        log.warning("automation.bad_token", client=request.client.host if request.client else None)
        return _answer(
            401, "bad_token", "Authorization: Bearer <token> is required",
            **{"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    try:
        body = await read_body(request, get_settings().ansible_max_bytes)
    except BodyTooLarge:
        return _answer(413, "too_large", "batch exceeds the size limit")
    try:
        batch = ingest.parse(body)
    except ingest.BadJson as exc:
        log.warning("automation.bad_json", error=str(exc))
        return _answer(400, "bad_json", "body is not JSON")
    except ingest.InvalidBatch as exc:
        log.warning("automation.invalid", error=str(exc))
        return _answer(422, "invalid", str(exc))
    try:
        stored = await asyncio.to_thread(_store, batch)
    except ingest.InvalidBatch as exc:
        log.warning("automation.invalid", run=str(batch.run.id), error=str(exc))
        return _answer(422, "invalid", str(exc))
    except unavailable as exc:
        log.error("automation.unavailable", error=str(exc).splitlines()[0])
        return _answer(503, "unavailable", "the batch could not be stored now; retry",
                       **{"Retry-After": "5"})  # fmt: skip
    log.info("automation.received", run=stored.run_id, results=stored.results, done=stored.finished)
    return _answer(200, "stored", f"{stored.results} result(s) of run {stored.run_id}")
