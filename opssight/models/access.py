"""Who gets which role, and failed local sign-ins (for rate limiting)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class RoleRule(SQLModel, table=True):
    """GitHub org (and optionally team slug) → role, evaluated at each GitHub sign-in."""

    __tablename__ = "role_rule"

    id: int | None = Field(default=None, primary_key=True)
    github_org: str = Field(max_length=100)
    github_team: str | None = Field(default=None, max_length=100)
    role: str = Field(max_length=50)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class LoginFailure(SQLModel, table=True):
    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=100, index=True)
    ip: str = Field(max_length=64, index=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
