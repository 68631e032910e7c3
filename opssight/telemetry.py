"""Prometheus metrics about OpsSight itself, served at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from opssight import db
from opssight.models import UserSession
from opssight.models.base import utcnow

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WEBHOOK_DELIVERIES = Counter(
    "opssight_webhook_deliveries_total",
    "Webhook deliveries by source and result",
    ["source", "result"],
)
LIVE_CLIENTS = Gauge("opssight_live_clients", "Browser tabs receiving live updates (this process)")
ACTIVE_SESSIONS = Gauge(
    "opssight_active_sessions", "Signed-in sessions neither expired nor revoked"
)


def _count_active_sessions() -> float:
    try:
        with db.session_scope() as session:
            now = utcnow()
            query = select(func.count()).select_from(UserSession)
            query = query.where(UserSession.expires_at > now, or_(UserSession.revoked_at.is_(None)))
            return float(session.exec(query).one())
    except SQLAlchemyError:
        return float("nan")


ACTIVE_SESSIONS.set_function(_count_active_sessions)
