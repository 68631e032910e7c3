"""Incidents: what DORA's change failure rate and time to restore count.

Sources: a GitHub issue labelled ``incident`` (``Settings.dora_incident_label``) and, once
alerting lands, a firing critical alert. The natural key is (source, key), e.g.
("github-issue", "<issue id>"). A row whose issue lost its label or was deleted stays, with
``counted`` false, so that an older delivery arriving later cannot bring it back (``updated_at``
guards every write).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, UniqueConstraint, true
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime


class Incident(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("source", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=50)
    key: str = Field(max_length=300)
    repo_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    title: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    """The source's last change: an older version never overwrites a newer one."""
    counted: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    """Whether DORA counts it (false once its issue lost the label or was deleted)."""
