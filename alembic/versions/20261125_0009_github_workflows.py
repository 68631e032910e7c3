"""github workflows

Revision ID: 0009github
Revises: 0008dora
Create Date: 2026-11-25 23:26:57.602080
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import opssight.models.base
from alembic import op

revision: str = "0009github"
down_revision: str | None = "0008dora"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("repo_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("html_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflow_repo_id"), ["repo_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_repo_id"))
    op.drop_table("workflow")
