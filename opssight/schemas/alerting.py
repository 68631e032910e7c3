"""Alerting payloads: Alertmanager's webhook (version 4), Prometheus's ``/api/v1/rules`` and
``/api/v1/alerts``, and the rule form OpsSight accepts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

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


MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
MATCH_OPS = ("=", "!=", "=~", "!~")


def parse_matchers(text: str) -> list[list[str]]:
    """One ``name op value`` per line (op ``=``, ``!=``, ``=~`` or ``!~``; the value may be
    double-quoted; blank lines skipped). Raises ValueError naming the line."""
    found: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = MATCHER.match(line)
        if match is None:
            raise ValueError(f"Matchers, line {number}: expected name op value, op one of "
                             f"{' '.join(MATCH_OPS)} (e.g. severity=critical)")  # fmt: skip
        name, op, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        found.append([name, op, value])
    return found


Seconds = Annotated[int, Field(ge=0, le=30 * 86_400)]


class PolicyForm(BaseModel):
    """A notification policy as a person creates or edits it."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    matchers: Annotated[list[list[str]], Field(max_length=20)] = []
    contact_point_id: int = Field(gt=0)
    group_by: Annotated[list[str], Field(max_length=20)] = []
    group_wait_seconds: Seconds = 30
    group_interval_seconds: Annotated[int, Field(ge=1, le=30 * 86_400)] = 300
    repeat_interval_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = 4 * 3600
    continue_matching: bool = False
    enabled: bool = True
    escalate_after_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] | None = None
    escalation_contact_point_id: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _escalation(self) -> PolicyForm:
        if (self.escalate_after_minutes is None) != (self.escalation_contact_point_id is None):
            raise ValueError(
                "escalation needs both a delay in minutes and an escalation contact point "
                "(or neither)"
            )
        return self

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[list[str]]) -> list[list[str]]:
        for number, matcher in enumerate(value, 1):
            if len(matcher) != 3:
                raise ValueError(f"matcher {number}: expected [name, op, value]")
            name, op, pattern = matcher
            if not LABEL_NAME.match(name):
                raise ValueError(f"matcher {number}: {name!r} is not a label name")
            if op not in MATCH_OPS:
                raise ValueError(f"matcher {number}: {op!r} is not one of {' '.join(MATCH_OPS)}")
            if len(pattern) > 1000:
                raise ValueError(f"matcher {number}: the value is longer than 1000 characters")
            if op in ("=~", "!~"):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(
                        f"matcher {number} ({name}{op}{pattern}): not a valid regex: {exc}"
                    ) from None
        return value

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not LABEL_NAME.match(name)]
        if bad:
            raise ValueError(f"not a label name: {', '.join(bad)}")
        return list(dict.fromkeys(value))


CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PreferenceForm(BaseModel):
    """What a person wants sent to their own address (My notifications)."""

    enabled: bool = False
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] = ""
    min_severity: Literal["critical", "warning", "info"] = "warning"
    teams: Annotated[list[Label], Field(max_length=50)] = []
    quiet_start: str | None = None
    quiet_end: str | None = None
    timezone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = "UTC"
    critical_in_quiet: bool = True

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("quiet_start", "quiet_end", mode="before")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time like 22:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone like Europe/Paris or UTC") from None
        return value

    @model_validator(mode="after")
    def _quiet_hours(self) -> PreferenceForm:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both a start and an end (or neither)")
        return self
