"""People who sign in, and their revocable sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(index=True, unique=True, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    avatar_url: str | None = Field(default=None, max_length=500)
    github_id: int | None = Field(default=None, unique=True)
    role: str = Field(default="viewer", max_length=50)
    password_hash: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    token_version: int = 0
    theme_variant: str = Field(default="minimal", max_length=30)
    color_mode: str = Field(default="system", max_length=20)
    accent_hue: int = 210
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_login_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class UserSession(SQLModel, table=True):
    """A signed-in browser; the JWT carries its id, so revoking the row cuts the session."""

    __tablename__ = "user_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    method: str = Field(  # "github" or "password"
        default="github", max_length=20, sa_column_kwargs={"server_default": "github"}
    )
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
