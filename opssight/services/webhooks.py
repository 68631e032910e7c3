"""GitHub webhook deliveries: verify the signature, validate, de-duplicate, upsert, announce."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from opssight.events import Event, get_bus
from opssight.models import WebhookDelivery
from opssight.models.base import utcnow
from opssight.schemas import github as gh
from opssight.services import pipelines
from opssight.services.upsert import insert_new

log = structlog.get_logger(__name__)

SIGNATURE_PREFIX = "sha256="
Outcome = Literal["stored", "duplicate", "ignored"]


class InvalidPayload(ValueError):
    """The body is JSON but not the shape GitHub sends for this event."""


def signature_is_valid(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256``: HMAC-SHA256 of the raw body, compared in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix(SIGNATURE_PREFIX))


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub would send for ``body`` (used by the demo feed and tests)."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _run(session: Session, e: gh.WorkflowRunEvent) -> list[Event]:
    return pipelines.apply_workflow_run(session, e.repository, e.workflow_run)


def _job(session: Session, e: gh.WorkflowJobEvent) -> list[Event]:
    return pipelines.apply_workflow_job(session, e.repository, e.workflow_job)


def _pull(session: Session, e: gh.PullRequestEvent) -> list[Event]:
    return pipelines.apply_pull_request(session, e.repository, e.pull_request)


def _deployment(session: Session, e: gh.DeploymentEvent) -> list[Event]:
    return pipelines.apply_deployment(session, e.repository, e.deployment)


def _deployment_status(session: Session, e: gh.DeploymentStatusEvent) -> list[Event]:
    return pipelines.apply_deployment_status(
        session, e.repository, e.deployment, e.deployment_status
    )


def _push(session: Session, e: gh.PushEvent) -> list[Event]:
    pipelines.apply_repository(session, e.repository)
    return []


def _ping(session: Session, e: gh.PingEvent) -> list[Event]:
    if e.repository is not None:
        pipelines.apply_repository(session, e.repository)
    return []


HANDLERS: dict[str, tuple[type[BaseModel], Callable[[Session, Any], list[Event]]]] = {
    "workflow_run": (gh.WorkflowRunEvent, _run),
    "workflow_job": (gh.WorkflowJobEvent, _job),
    "pull_request": (gh.PullRequestEvent, _pull),
    "deployment": (gh.DeploymentEvent, _deployment),
    "deployment_status": (gh.DeploymentStatusEvent, _deployment_status),
    "push": (gh.PushEvent, _push),
    "ping": (gh.PingEvent, _ping),
}


def ingest(session: Session, *, delivery_id: str, event: str, payload: Any) -> Outcome:
    """Store one delivery exactly once; returns what happened. Raises InvalidPayload."""
    if event not in HANDLERS:
        return "ignored"
    model, handler = HANDLERS[event]
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidPayload(f"not a GitHub {event} payload: {exc.error_count()} error(s)") from exc
    repository = getattr(parsed, "repository", None)
    fresh = insert_new(
        session,
        WebhookDelivery,
        {
            "id": delivery_id,
            "event": event,
            "action": getattr(parsed, "action", None),
            "repository": repository.full_name if repository else None,
            "received_at": utcnow(),
        },
        keys=("id",),
    )
    if not fresh:
        session.rollback()
        return "duplicate"
    events = handler(session, parsed)
    session.commit()
    bus = get_bus()
    for notice in events:
        bus.publish(notice)
    return "stored"
