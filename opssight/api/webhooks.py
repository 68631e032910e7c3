"""``POST /api/webhooks/github``: 401 before any parsing, 2xx only after the commit.

The handler verifies and parses in the event loop (HMAC, then pydantic straight from the bytes),
then hands the delivery to this process's webhook writer (``services.ingest_writer``), which
commits concurrent deliveries together and answers each once its batch has committed. No
synchronous database call runs on the event loop.

It is a plain Starlette route that ``create_api`` puts before the routers: matched first and
without FastAPI's dependency injection (as a router's ``APIRoute`` it cost ~50 µs more CPU per
request here, bench/webhook_ingest.py). It is therefore not in the OpenAPI page.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Route

from opssight.config import get_settings
from opssight.services import ingest_writer, source_config, webhooks
from opssight.telemetry import WEBHOOK_DELIVERIES

log = structlog.get_logger(__name__)


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


def _answer(
    status: int, result: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    WEBHOOK_DELIVERIES.labels("github", result).inc()
    return JSONResponse({"result": result, "detail": detail}, status_code=status, headers=headers)


@dataclass(frozen=True)
class Received:
    """A verified, parsed delivery; ``parsed`` is None for events we do not ingest."""

    delivery_id: str
    event: str
    parsed: BaseModel | None


async def receive(request: Request) -> Received | JSONResponse:
    """Everything before the database: secret, size limit, signature, headers, JSON, shape.

    Returns the delivery, or the error answer to send."""
    try:
        secret = (await source_config.current_async()).github_webhook_secret
    except SQLAlchemyError as exc:  # the saved secret cannot be read: nor could it be stored
        log.error("webhook.unavailable", error=str(exc))
        detail = "the delivery could not be stored now; retry"
        return _answer(503, "unavailable", detail, headers={"Retry-After": "1"})
    if secret is None:
        return _answer(
            503, "disabled", "no webhook secret: set it on the GitHub connection in Settings"
        )
    try:
        body = await read_body(request, get_settings().github_webhook_max_bytes)
    except BodyTooLarge:
        return _answer(413, "too_large", "payload exceeds the size limit")
    if not webhooks.signature_is_valid(secret, body, request.headers.get("x-hub-signature-256")):
        log.warning("webhook.bad_signature", client=request.client.host if request.client else None)
        return _answer(401, "bad_signature", "X-Hub-Signature-256 does not match")
    event = request.headers.get("x-github-event")
    delivery_id = request.headers.get("x-github-delivery")
    if not event or not delivery_id or len(delivery_id) > 64:
        return _answer(400, "bad_headers", "X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        parsed = webhooks.parse(event, body)
    except webhooks.BadJson as exc:
        log.warning("webhook.bad_json", delivery=delivery_id, error=str(exc))
        return _answer(400, "bad_json", "body is not JSON")
    except webhooks.InvalidPayload as exc:
        log.warning("webhook.invalid", delivery=delivery_id, gh_event=event, error=str(exc))
        return _answer(422, "invalid", str(exc))
    return Received(delivery_id, event, parsed)


async def github(request: Request) -> JSONResponse:
    received = await receive(request)
    if isinstance(received, JSONResponse):
        return received
    if received.parsed is None:
        return _answer(202, "ignored", received.event)
    delivery = webhooks.prepare(received.delivery_id, received.event, received.parsed)
    try:
        outcome = await ingest_writer.get_writer().submit(delivery)
    except ingest_writer.WriterUnavailable as exc:
        log.error("webhook.unavailable", delivery=received.delivery_id, error=str(exc))
        detail = "the delivery could not be stored now; retry"
        return _answer(503, "unavailable", detail, headers={"Retry-After": "1"})
    return _answer(200, outcome, received.event)


routes = [Route("/api/webhooks/github", github, methods=["POST"])]
