"""Teams (imported from GitHub at sign-in or made by an admin) and who belongs to them.

A repository belongs to at most one team through ``Repository.team`` (the team's slug), which is
what the DORA and pipelines team filters read; a Kubernetes namespace (of one cluster) through
``TeamNamespace``, which the Kubernetes team filter reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class Team(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=200, unique=True, index=True)
    name: str = Field(max_length=200)
    source: str = Field(default="local", max_length=20)  # "github" or "local"
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_member"

    team_id: int = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True, ondelete="CASCADE")


class TeamNamespace(SQLModel, table=True):
    __tablename__ = "team_namespace"

    cluster: str = Field(primary_key=True, max_length=200)
    namespace: str = Field(primary_key=True, max_length=253)
    team_id: int = Field(foreign_key="team.id", index=True, ondelete="CASCADE")
