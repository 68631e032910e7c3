"""DORA's links, materialized at ingest (see ``services.dora_links``): the deployments DORA
counts, the deployment that shipped each merged pull request and the one that caused each
incident. Derived data: ``dora_links.rebuild`` recomputes all of it from the source tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, SmallInteger
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime


def _big(**kwargs: Any) -> Any:
    return Field(sa_column=Column(BigInteger, nullable=False, **kwargs))


def _at() -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=False))


class DoraDeployment(SQLModel, table=True):
    """A deployment DORA counts: (4, ``Deployment.id``) or (5, ``WorkflowRun.run_id``)."""

    __tablename__ = "dora_deployment"
    __table_args__ = (
        Index("ix_dora_deployment_at", "at", postgresql_include=["repo_id", "kind", "ref_id"]),
        Index("ix_dora_deployment_repo_at", "repo_id", "at"),
        Index("ix_dora_deployment_repo_sha", "repo_id", "sha", "at"),
    )

    kind: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    ref_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    repo_id: int = _big()
    at: datetime = _at()
    sha: str = Field(max_length=64)


class DoraChange(SQLModel, table=True):
    """A merged pull request and the deployment that shipped it, with its lead time."""

    __tablename__ = "dora_change"
    __table_args__ = (
        Index("ix_dora_change_at", "at", postgresql_include=["repo_id", "pull_id", "lead"]),
        Index("ix_dora_change_repo_at", "repo_id", "at"),
    )

    pull_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    repo_id: int = _big()
    kind: int = Field(sa_column=Column(SmallInteger, nullable=False))
    ref_id: int = _big()
    at: datetime = _at()
    lead: int = _big()
    """Seconds from the first commit (or the PR's creation) to the deployment."""
    matched_by: str = Field(max_length=4)


class DoraCause(SQLModel, table=True):
    """An incident and the deployment that caused it (its repository's last one before it)."""

    __tablename__ = "dora_cause"
    __table_args__ = (
        Index("ix_dora_cause_at", "at"),
        Index("ix_dora_cause_repo_at", "repo_id", "at"),
    )

    incident_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    repo_id: int = _big()
    kind: int = Field(sa_column=Column(SmallInteger, nullable=False))
    ref_id: int = _big()
    at: datetime = _at()


class DoraConfig(SQLModel, table=True):
    """The deploy workflows the links were built with (one row): a change means a rebuild."""

    __tablename__ = "dora_config"

    id: int = Field(default=1, primary_key=True)
    deploy_workflows: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    built_at: datetime = _at()
