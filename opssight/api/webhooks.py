"""``POST /api/webhooks/github``: 401 before any parsing, 2xx only after the commit."""

from __future__ import annotations

import asyncio
import json

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opssight import db
from opssight.config import get_settings
from opssight.services import webhooks
from opssight.telemetry import WEBHOOK_DELIVERIES

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes whatever Content-Length claims."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, result: str, detail: str) -> JSONResponse:
    WEBHOOK_DELIVERIES.labels("github", result).inc()
    return JSONResponse({"result": result, "detail": detail}, status_code=status)


def _ingest(delivery_id: str, event: str, payload: object) -> webhooks.Outcome:
    with db.session_scope() as session:
        return webhooks.ingest(session, delivery_id=delivery_id, event=event, payload=payload)


@router.post("/github")
async def github(request: Request) -> JSONResponse:
    settings = get_settings()
    if settings.github_webhook_secret is None:
        return _answer(503, "disabled", "OPSSIGHT_GITHUB_WEBHOOK_SECRET is not set")
    try:
        body = await read_body(request, settings.github_webhook_max_bytes)
    except BodyTooLarge:
        return _answer(413, "too_large", "payload exceeds the size limit")
    secret = settings.github_webhook_secret.get_secret_value()
    if not webhooks.signature_is_valid(secret, body, request.headers.get("x-hub-signature-256")):
        log.warning("webhook.bad_signature", client=request.client.host if request.client else None)
        return _answer(401, "bad_signature", "X-Hub-Signature-256 does not match")
    event = request.headers.get("x-github-event")
    delivery_id = request.headers.get("x-github-delivery")
    if not event or not delivery_id or len(delivery_id) > 64:
        return _answer(400, "bad_headers", "X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("webhook.bad_json", delivery=delivery_id, error=str(exc))
        return _answer(400, "bad_json", "body is not JSON")
    try:
        outcome = await asyncio.to_thread(_ingest, delivery_id, event, payload)
    except webhooks.InvalidPayload as exc:
        log.warning("webhook.invalid", delivery=delivery_id, gh_event=event, error=str(exc))
        return _answer(422, "invalid", str(exc))
    code = 202 if outcome == "ignored" else 200
    return _answer(code, outcome, event)
