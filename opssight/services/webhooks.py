"""GitHub webhook deliveries: verify the signature, validate, de-duplicate, upsert, announce.

A delivery is parsed into its pydantic event model (``parse``/``validate``), mapped to the rows
it writes (``prepare``: the ``*_changes`` functions of ``services.pipelines`` and
``services.incidents``) and stored exactly once on its ``X-GitHub-Delivery`` id: one at a time
by ``store`` (SQLite, the demo feed, tests), or many per transaction by the batch writer in
``services.ingest_writer`` (PostgreSQL, the route).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from opssight.config import get_settings
from opssight.events import Event, get_bus
from opssight.models import WebhookDelivery
from opssight.models.base import utcnow
from opssight.schemas import github as gh
from opssight.services import incidents, pipelines
from opssight.services.upsert import insert_new

log = structlog.get_logger(__name__)

SIGNATURE_PREFIX = "sha256="
Outcome = Literal["stored", "duplicate", "ignored"]
WEBHOOK_DELIVERY = pipelines.Target(WebhookDelivery, ("id",), insert_only=True)


class InvalidPayload(ValueError):
    """The body is JSON but not the shape GitHub sends for this event."""


class BadJson(ValueError):
    """The body is not JSON at all."""


def signature_is_valid(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256``: HMAC-SHA256 of the raw body, compared in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix(SIGNATURE_PREFIX))


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub would send for ``body`` (used by the demo feed and tests)."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _run(e: gh.WorkflowRunEvent) -> pipelines.Changes:
    return pipelines.workflow_run_changes(e.repository, e.workflow_run)


def _job(e: gh.WorkflowJobEvent) -> pipelines.Changes:
    return pipelines.workflow_job_changes(e.repository, e.workflow_job)


def _pull(e: gh.PullRequestEvent) -> pipelines.Changes:
    return pipelines.pull_request_changes(e.repository, e.pull_request)


def _deployment(e: gh.DeploymentEvent) -> pipelines.Changes:
    return pipelines.deployment_changes(e.repository, e.deployment)


def _deployment_status(e: gh.DeploymentStatusEvent) -> pipelines.Changes:
    return pipelines.deployment_status_changes(e.repository, e.deployment, e.deployment_status)


def _issue(e: gh.IssuesEvent) -> pipelines.Changes:
    label = get_settings().dora_incident_label
    return incidents.issue_changes(
        e.repository, e.issue, label=label, action=e.action, changed_label=e.label
    )


def _push(e: gh.PushEvent) -> pipelines.Changes:
    return pipelines.repository_changes(e.repository)


def _ping(e: gh.PingEvent) -> pipelines.Changes:
    if e.repository is None:
        return pipelines.Changes()
    return pipelines.repository_changes(e.repository)


# event → (payload model, what a delivery of it writes); other events are acknowledged, ignored
HANDLERS: dict[str, tuple[type[BaseModel], Callable[[Any], pipelines.Changes]]] = {
    "workflow_run": (gh.WorkflowRunEvent, _run),
    "workflow_job": (gh.WorkflowJobEvent, _job),
    "pull_request": (gh.PullRequestEvent, _pull),
    "deployment": (gh.DeploymentEvent, _deployment),
    "deployment_status": (gh.DeploymentStatusEvent, _deployment_status),
    "issues": (gh.IssuesEvent, _issue),
    "push": (gh.PushEvent, _push),
    "ping": (gh.PingEvent, _ping),
}


def _invalid(event: str, exc: ValidationError) -> InvalidPayload:
    return InvalidPayload(f"not a GitHub {event} payload: {exc.error_count()} error(s)")


def validate(event: str, payload: Any) -> BaseModel | None:
    """The event model of an already decoded payload; None for events we do not ingest."""
    if event not in HANDLERS:
        return None
    try:
        return HANDLERS[event][0].model_validate(payload)
    except ValidationError as exc:
        raise _invalid(event, exc) from exc


def parse(event: str, body: bytes) -> BaseModel | None:
    """The event model straight from the raw body (pydantic's JSON parser: only the fields we
    keep become Python objects). None for events we do not ingest. Raises BadJson or
    InvalidPayload."""
    if event not in HANDLERS:
        try:
            json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadJson(str(exc)) from exc
        return None
    try:
        return HANDLERS[event][0].model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise BadJson(str(exc.errors()[0]["msg"])) from exc
        raise _invalid(event, exc) from exc


@dataclass(frozen=True)
class Delivery:
    """One validated delivery: its ``webhook_delivery`` row and what it writes if new."""

    id: str
    event: str
    values: dict[str, Any]
    changes: pipelines.Changes


def prepare(
    delivery_id: str, event: str, parsed: BaseModel, received_at: datetime | None = None
) -> Delivery:
    repository = getattr(parsed, "repository", None)
    values = {
        "id": delivery_id,
        "event": event,
        "action": getattr(parsed, "action", None),
        "repository": repository.full_name if repository else None,
        "received_at": received_at or utcnow(),
    }
    return Delivery(delivery_id, event, values, HANDLERS[event][1](parsed))


def publish(events: list[Event]) -> None:
    bus = get_bus()
    for notice in events:
        bus.publish(notice)


def store(session: Session, delivery: Delivery) -> Outcome:
    """Store one delivery exactly once in the caller's session (commits); then announce it."""
    fresh = insert_new(session, WebhookDelivery, delivery.values, keys=WEBHOOK_DELIVERY.keys)
    if not fresh:
        session.rollback()
        return "duplicate"
    events = pipelines.apply_changes(session, delivery.changes)
    session.commit()
    publish(events)
    return "stored"


def ingest(session: Session, *, delivery_id: str, event: str, payload: Any) -> Outcome:
    """Store one delivery exactly once; returns what happened. Raises InvalidPayload."""
    parsed = validate(event, payload)
    if parsed is None:
        return "ignored"
    return store(session, prepare(delivery_id, event, parsed))
