"""``/health`` (liveness) and ``/health/detailed`` (database, redis, connectors)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opssight.services import health

router = APIRouter(tags=["health"])


@router.get("/health")
async def liveness() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/detailed", response_model=health.HealthReport)
async def detailed() -> JSONResponse:
    report = await asyncio.to_thread(health.detailed)
    code = 503 if report.status == "down" else 200
    return JSONResponse(report.model_dump(mode="json"), status_code=code)
