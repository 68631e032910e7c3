"""dora links

Revision ID: 0008dora
Revises: 0007access
Create Date: 2026-11-25 22:56:09.601135
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import opssight.models.base
from alembic import op

revision: str = "0008dora"
down_revision: str | None = "0007access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dora_cause",
        sa.Column("incident_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("repo_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    with op.batch_alter_table("dora_cause", schema=None) as batch_op:
        batch_op.create_index("ix_dora_cause_at", ["at"], unique=False)
        batch_op.create_index("ix_dora_cause_repo_at", ["repo_id", "at"], unique=False)

    op.create_table(
        "dora_change",
        sa.Column("pull_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("repo_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lead", sa.BigInteger(), nullable=False),
        sa.Column("matched_by", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.PrimaryKeyConstraint("pull_id"),
    )
    with op.batch_alter_table("dora_change", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dora_change_at",
            ["at"],
            unique=False,
            postgresql_include=["repo_id", "pull_id", "lead"],
        )
        batch_op.create_index("ix_dora_change_repo_at", ["repo_id", "at"], unique=False)

    op.create_table(
        "dora_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deploy_workflows", sa.JSON(), nullable=True),
        sa.Column("built_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dora_deployment",
        sa.Column("kind", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("ref_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("repo_id", sa.BigInteger(), nullable=False),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sha", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id"),
    )
    with op.batch_alter_table("dora_deployment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dora_deployment_at",
            ["at"],
            unique=False,
            postgresql_include=["repo_id", "kind", "ref_id"],
        )
        batch_op.create_index("ix_dora_deployment_repo_at", ["repo_id", "at"], unique=False)
        batch_op.create_index("ix_dora_deployment_repo_sha", ["repo_id", "sha", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dora_deployment", schema=None) as batch_op:
        batch_op.drop_index("ix_dora_deployment_repo_sha")
        batch_op.drop_index("ix_dora_deployment_repo_at")
        batch_op.drop_index(
            "ix_dora_deployment_at", postgresql_include=["repo_id", "kind", "ref_id"]
        )

    op.drop_table("dora_deployment")
    op.drop_table("dora_config")
    with op.batch_alter_table("dora_change", schema=None) as batch_op:
        batch_op.drop_index("ix_dora_change_repo_at")
        batch_op.drop_index("ix_dora_change_at", postgresql_include=["repo_id", "pull_id", "lead"])

    op.drop_table("dora_change")
    with op.batch_alter_table("dora_cause", schema=None) as batch_op:
        batch_op.drop_index("ix_dora_cause_repo_at")
        batch_op.drop_index("ix_dora_cause_at")

    op.drop_table("dora_cause")
