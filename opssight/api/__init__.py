"""HTTP API mounted on the Reflex backend: thin routes that call services."""

from __future__ import annotations

from fastapi import FastAPI

from opssight import tracing
from opssight.api import alertmanager, auth, automation, health, metrics, webhooks
from opssight.api.limits import RateLimitMiddleware
from opssight.api.middleware import HttpMiddleware, route_label
from opssight.config import get_settings


def create_api() -> FastAPI:
    api = FastAPI(
        title="OpsSight API",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        # metrics are Prometheus' (HttpMiddleware); FastAPI's OpenTelemetry hooks would only
        # look for a provider in the environment on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    api.include_router(health.router)
    api.include_router(metrics.router)
    api.include_router(auth.router)
    api.include_router(alertmanager.router)
    api.include_router(automation.router)
    api.router.routes[:0] = webhooks.routes  # hot ingest doors, matched first
    api.add_middleware(RateLimitMiddleware)  # inside HttpMiddleware: 429s get its headers
    api.add_middleware(HttpMiddleware)
    if tracing.configure(get_settings()):  # outermost: the span covers the whole answer
        api.add_middleware(tracing.HttpTracing, route_name=route_label)
    return api
