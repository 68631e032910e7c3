"""Truthful health of OpsSight's own dependencies and of each connector."""

from __future__ import annotations

from typing import Literal

import structlog
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from opssight import db
from opssight.config import get_settings
from opssight.events import get_bus
from opssight.services import source_config
from opssight.services.connectors import list_connectors

log = structlog.get_logger(__name__)

State = Literal["ok", "degraded", "down", "unknown", "disabled"]


class ComponentHealth(BaseModel):
    name: str
    state: State
    latency_ms: float | None = None
    detail: str | None = None
    error: str | None = None
    demo: bool = False


class HealthReport(BaseModel):
    status: Literal["ok", "degraded", "down"]
    database: ComponentHealth
    redis: ComponentHealth
    connectors: list[ComponentHealth]
    demo: bool


def _database() -> ComponentHealth:
    backend = "sqlite" if get_settings().is_sqlite else "postgresql"
    try:
        return ComponentHealth(name=backend, state="ok", latency_ms=round(db.ping(), 2))
    except SQLAlchemyError as exc:
        log.warning("health.database_down", error=str(exc.__cause__ or exc))
        return ComponentHealth(name=backend, state="down", error=str(exc.__cause__ or exc))


def _redis() -> ComponentHealth:
    bus = get_bus()
    if bus.backend != "redis":
        return ComponentHealth(name="redis", state="disabled", detail="in-process event bus")
    try:
        return ComponentHealth(name="redis", state="ok", latency_ms=round(bus.ping(), 2))
    except Exception as exc:  # any client failure means "down" here, never a crash
        log.warning("health.redis_down", error=str(exc))
        return ComponentHealth(name="redis", state="down", error=str(exc))


def _connectors() -> list[ComponentHealth]:
    with db.session_scope() as session:
        return [
            ComponentHealth(
                name=row.name,
                state=row.state,
                latency_ms=row.latency_ms,
                detail=row.detail,
                error=row.last_error,
                demo=row.is_demo,
            )
            for row in list_connectors(session)
        ]


def _unreadable() -> list[ComponentHealth]:
    """Saved connections whose secrets no configured key decrypts (left out until fixed)."""
    return [
        ComponentHealth(name=f"connection {name}", state="down", error=error)
        for name, error in source_config.current().errors.items()
    ]


def detailed() -> HealthReport:
    database = _database()
    redis = _redis()
    connectors = _connectors() + _unreadable() if database.state == "ok" else []
    if database.state == "down":
        status = "down"
    elif redis.state == "down" or any(c.state != "ok" for c in connectors):
        status = "degraded"
    else:
        status = "ok"
    return HealthReport(
        status=status,
        database=database,
        redis=redis,
        connectors=connectors,
        demo=source_config.current().demo
        if database.state == "ok"
        else get_settings().demo_enabled,
    )
