"""The parts of source health payloads we read (GitHub, Prometheus)."""

from __future__ import annotations

from pydantic import BaseModel


class GitHubRateResource(BaseModel):
    limit: int
    used: int
    remaining: int
    reset: int


class GitHubRateLimit(BaseModel):
    """``GET /rate_limit``."""

    resources: dict[str, GitHubRateResource]


class PrometheusBuildInfoData(BaseModel):
    version: str


class PrometheusBuildInfo(BaseModel):
    """``GET /api/v1/status/buildinfo``."""

    status: str
    data: PrometheusBuildInfoData


class AlertmanagerUrl(BaseModel):
    url: str


class PrometheusAlertmanagersData(BaseModel):
    activeAlertmanagers: list[AlertmanagerUrl]
    droppedAlertmanagers: list[AlertmanagerUrl] = []


class PrometheusAlertmanagers(BaseModel):
    """``GET /api/v1/alertmanagers``."""

    status: str
    data: PrometheusAlertmanagersData
