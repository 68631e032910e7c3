"""incident updated_at and counted

Revision ID: 0006incidents
Revises: 0005facts
Create Date: 2026-11-25 22:48:24.195833
"""

from collections.abc import Sequence

import sqlalchemy as sa

import opssight.models.base
from alembic import op

revision: str = "0006incidents"
down_revision: str | None = "0005facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("counted", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("counted")
        batch_op.drop_column("updated_at")
