"""ETags of GitHub list requests, so a reconciliation poll of an unchanged listing is a 304."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class HttpEtag(SQLModel, table=True):
    __tablename__ = "http_etag"

    key: str = Field(primary_key=True, max_length=64)  # sha256 of the request URL
    url: str = Field(max_length=2000)
    etag: str = Field(max_length=300)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
