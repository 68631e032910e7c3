"""Alerting payloads: Alertmanager's webhook (version 4), Prometheus's ``/api/v1/rules`` and
``/api/v1/alerts``, and the rule form OpsSight accepts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

Label = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AlertmanagerAlert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: dict[Label, Text]
    annotations: dict[Label, Text] = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: Annotated[str, StringConstraints(max_length=2000)] = ""
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=64)]

    @field_validator("endsAt")
    @classmethod
    def _zero_is_unset(cls, value: datetime | None) -> datetime | None:
        """Go's zero time (``0001-01-01T00:00:00Z``) means no end yet."""
        return None if value is not None and value.year <= 1 else value


class AlertmanagerPayload(BaseModel):
    """``POST`` body of Alertmanager's ``webhook_config`` receiver."""

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str
    groupKey: str
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    truncatedAlerts: int = 0
    alerts: Annotated[list[AlertmanagerAlert], Field(max_length=10_000)]


class PrometheusRule(BaseModel):
    """One rule of ``GET /api/v1/rules`` (alerting rules have ``type`` "alerting")."""

    type: str
    name: str
    query: str
    duration: float = 0
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    health: str = "unknown"
    lastError: str | None = None


class PrometheusRuleGroup(BaseModel):
    name: str
    file: str = ""
    rules: list[PrometheusRule]


class PrometheusRulesData(BaseModel):
    groups: list[PrometheusRuleGroup]


class PrometheusRules(BaseModel):
    status: str
    data: PrometheusRulesData


class PrometheusAlert(BaseModel):
    """One alert of ``GET /api/v1/alerts``."""

    labels: dict[str, str]
    annotations: dict[str, str] = {}
    state: str
    activeAt: datetime | None = None
    value: str = ""


class PrometheusAlertsData(BaseModel):
    alerts: list[PrometheusAlert]


class PrometheusAlerts(BaseModel):
    status: str
    data: PrometheusAlertsData


class RuleForm(BaseModel):
    """An OpsSight rule as a person creates or edits it."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    expr: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    for_seconds: int = Field(default=0, ge=0, le=7 * 86_400)
    severity: Literal["critical", "warning", "info"] = "warning"
    labels: dict[Label, Text] = {}
    annotations: dict[Label, Text] = {}
    enabled: bool = True
    datasource: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    no_data_state: Literal["Normal", "NoData"] = "Normal"

    @field_validator("labels", "annotations")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not LABEL_NAME.match(name)]
        if bad:
            raise ValueError(f"not a label name: {', '.join(bad)}")
        return value
