"""A connector health check result, the one input of the connector service."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ConnectorState = Literal["ok", "degraded", "down"]


class ConnectorCheck(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=50)
    state: ConnectorState
    is_demo: bool = False
    detail: str | None = Field(default=None, max_length=500)
    latency_ms: float | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=2000)
    facts: dict[str, str] = Field(default_factory=dict)  # labelled figures for a connector panel
