"""Services: what one change timeline covers, mapped by an admin.

A member is a repository (``owner/repo``), a Kubernetes namespace or workload of a cluster
(``*``: every cluster) or an Ansible inventory group.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from opssight.models.base import UTCDateTime, utcnow


class Service(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    description: str = Field(default="", max_length=500)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ServiceMember(SQLModel, table=True):
    __tablename__ = "service_member"
    __table_args__ = (UniqueConstraint("service_id", "kind", "value", "namespace", "workload"),)

    id: int | None = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="service.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    """``repository``, ``kubernetes`` or ``inventory_group``."""
    value: str = Field(max_length=255)
    """The repository's ``owner/repo``, the cluster (``*``: any), or the group's name."""
    namespace: str = Field(default="", max_length=253)
    workload: str = Field(default="", max_length=253)
    """Kubernetes only: a workload whose pods are named after it (empty: the namespace)."""
