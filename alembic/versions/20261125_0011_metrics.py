"""metrics explorer: query history and saved panels

Revision ID: 0011metrics
Revises: 0012alerts
Create Date: 2026-11-25 23:58:12.314356
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import opssight.models.base
from alembic import op

revision: str = "0011metrics"
down_revision: str | None = "0012alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_panel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("promql", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("range_preset", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("chart_type", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("metric_panel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metric_panel_position"), ["position"], unique=False)

    op.create_table(
        "metric_query",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("promql", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("metric_query", schema=None) as batch_op:
        batch_op.create_index("ix_metric_query_user_at", ["user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("metric_query", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_query_user_at")

    op.drop_table("metric_query")
    with op.batch_alter_table("metric_panel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_panel_position"))

    op.drop_table("metric_panel")
