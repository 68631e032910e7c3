"""Connections saved in Settings: a source's settings in the clear, its secrets encrypted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class Connection(SQLModel, table=True):
    """GitHub, Kubernetes, a Prometheus source, Alertmanager or the SMTP server.

    ``secrets`` is Fernet ciphertext (``services.secrets``) of the secret fields; it is never
    sent to the browser."""

    __tablename__ = "connection"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, index=True)
    name: str = Field(max_length=100, unique=True)
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    secrets: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_by: str = Field(default="", max_length=100)
