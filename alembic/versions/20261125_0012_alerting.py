"""alerting: rules, alert instances and their transitions

Revision ID: 0012alerts
Revises: 0010kube
Create Date: 2026-11-25 23:57:59.644223
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import opssight.models.base
from alembic import op

revision: str = "0012alerts"
down_revision: str | None = "0010kube"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("expr", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("for_seconds", sa.Integer(), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("datasource", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("no_data_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("health", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column(
            "last_evaluated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "name"),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("datasource", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("started_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("firing_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column(
            "acknowledged_at", opssight.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("generator_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["rule_id"], ["alert_rule.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "fingerprint"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_rule_id"), ["rule_id"], unique=False)
        batch_op.create_index("ix_alert_state", ["state"], unique=False)

    op.create_table(
        "alert_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("to_state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_transition", schema=None) as batch_op:
        batch_op.create_index("ix_alert_transition_alert_at", ["alert_id", "at"], unique=False)
        batch_op.create_index("ix_alert_transition_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_transition", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_transition_at")
        batch_op.drop_index("ix_alert_transition_alert_at")

    op.drop_table("alert_transition")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_state")
        batch_op.drop_index(batch_op.f("ix_alert_rule_id"))

    op.drop_table("alert")
    op.drop_table("alert_rule")
