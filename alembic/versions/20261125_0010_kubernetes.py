"""kubernetes clusters objects problems restarts

Revision ID: 0010kube
Revises: 0009github
Create Date: 2026-11-25 23:28:05.549162
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import opssight.models.base
from alembic import op

revision: str = "0010kube"
down_revision: str | None = "0009github"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kube_cluster",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("server", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("checked_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resource_versions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "kube_event",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("object_kind", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("object_name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_seen", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resource_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "uid"),
    )
    with op.batch_alter_table("kube_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kube_event_cluster_last_seen", ["cluster", "last_seen"], unique=False
        )
        batch_op.create_index(
            "ix_kube_event_object",
            ["cluster", "namespace", "object_kind", "object_name"],
            unique=False,
        )

    op.create_table(
        "kube_node",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("ready_since", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("cpu_allocatable_m", sa.BigInteger(), nullable=False),
        sa.Column("memory_allocatable_b", sa.BigInteger(), nullable=False),
        sa.Column("cpu_usage_m", sa.BigInteger(), nullable=True),
        sa.Column("memory_usage_b", sa.BigInteger(), nullable=True),
        sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resource_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "uid"),
    )
    with op.batch_alter_table("kube_node", schema=None) as batch_op:
        batch_op.create_index("ix_kube_node_cluster_name", ["cluster", "name"], unique=False)

    op.create_table(
        "kube_pod",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True),
        sa.Column("ready_containers", sa.Integer(), nullable=False),
        sa.Column("total_containers", sa.Integer(), nullable=False),
        sa.Column("images", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("owner_kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("owner_name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True),
        sa.Column("cpu_requested_m", sa.BigInteger(), nullable=False),
        sa.Column("memory_requested_b", sa.BigInteger(), nullable=False),
        sa.Column("cpu_usage_m", sa.BigInteger(), nullable=True),
        sa.Column("memory_usage_b", sa.BigInteger(), nullable=True),
        sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resource_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "uid"),
    )
    with op.batch_alter_table("kube_pod", schema=None) as batch_op:
        batch_op.create_index("ix_kube_pod_cluster_node", ["cluster", "node"], unique=False)
        batch_op.create_index(
            "ix_kube_pod_cluster_ns_name", ["cluster", "namespace", "name"], unique=False
        )
        batch_op.create_index(
            "ix_kube_pod_owner", ["cluster", "namespace", "owner_kind", "owner_name"], unique=False
        )

    op.create_table(
        "kube_problem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("object_kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("object_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("image", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("since", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kube_problem", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kube_problem_cluster_resolved", ["cluster", "resolved_at"], unique=False
        )
        batch_op.create_index(
            "ux_kube_problem_open",
            ["cluster", "object_uid", "kind"],
            unique=True,
            postgresql_where=sa.text("resolved_at IS NULL"),
            sqlite_where=sa.text("resolved_at IS NULL"),
        )

    op.create_table(
        "kube_restart",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("pod_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("container", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("restart_count", sa.Integer(), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("pod", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "pod_uid", "container", "restart_count"),
    )
    with op.batch_alter_table("kube_restart", schema=None) as batch_op:
        batch_op.create_index("ix_kube_restart_cluster_at", ["cluster", "at"], unique=False)

    op.create_table(
        "kube_workload",
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=True),
        sa.Column("ready", sa.Integer(), nullable=True),
        sa.Column("updated", sa.Integer(), nullable=True),
        sa.Column("available", sa.Integer(), nullable=True),
        sa.Column("rollout", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("images", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("owner_kind", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("owner_name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True),
        sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resource_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "uid"),
    )
    with op.batch_alter_table("kube_workload", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kube_workload_cluster_kind_ns", ["cluster", "kind", "namespace"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("kube_workload", schema=None) as batch_op:
        batch_op.drop_index("ix_kube_workload_cluster_kind_ns")

    op.drop_table("kube_workload")
    with op.batch_alter_table("kube_restart", schema=None) as batch_op:
        batch_op.drop_index("ix_kube_restart_cluster_at")

    op.drop_table("kube_restart")
    with op.batch_alter_table("kube_problem", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_kube_problem_open",
            postgresql_where=sa.text("resolved_at IS NULL"),
            sqlite_where=sa.text("resolved_at IS NULL"),
        )
        batch_op.drop_index("ix_kube_problem_cluster_resolved")

    op.drop_table("kube_problem")
    with op.batch_alter_table("kube_pod", schema=None) as batch_op:
        batch_op.drop_index("ix_kube_pod_owner")
        batch_op.drop_index("ix_kube_pod_cluster_ns_name")
        batch_op.drop_index("ix_kube_pod_cluster_node")

    op.drop_table("kube_pod")
    with op.batch_alter_table("kube_node", schema=None) as batch_op:
        batch_op.drop_index("ix_kube_node_cluster_name")

    op.drop_table("kube_node")
    with op.batch_alter_table("kube_event", schema=None) as batch_op:
        batch_op.drop_index("ix_kube_event_object")
        batch_op.drop_index("ix_kube_event_cluster_last_seen")

    op.drop_table("kube_event")
    op.drop_table("kube_cluster")
