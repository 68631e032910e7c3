"""escalation (per policy) and personal notifications (per-user preferences)

Revision ID: 0016escalate
Revises: 0018automation
Create Date: 2026-11-26 02:07:12.613612
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import opssight.models.base
from alembic import op

revision: str = "0016escalate"
down_revision: str | None = "0018automation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERY_USER_FK = "fk_notification_delivery_user_id_user"
POLICY_ESCALATION_FK = "fk_notification_policy_escalation_contact_point"


def upgrade() -> None:
    op.create_table(
        "notification_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("min_severity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("quiet_end", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("critical_in_quiet", sa.Boolean(), nullable=False),
        sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_table(
        "notification_escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("firing_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["policy_id"], ["notification_policy.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("policy_id", "alert_id", "firing_at"),
    )
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                server_default="policy",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True)
        )
        batch_op.create_foreign_key(
            DELIVERY_USER_FK, "user", ["user_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("notification_policy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalate_after_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("escalation_contact_point_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            POLICY_ESCALATION_FK,
            "contact_point",
            ["escalation_contact_point_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_policy", schema=None) as batch_op:
        batch_op.drop_constraint(POLICY_ESCALATION_FK, type_="foreignkey")
        batch_op.drop_column("escalation_contact_point_id")
        batch_op.drop_column("escalate_after_minutes")
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.drop_constraint(DELIVERY_USER_FK, type_="foreignkey")
        batch_op.drop_column("recipient")
        batch_op.drop_column("user_id")
        batch_op.drop_column("kind")
    op.drop_table("notification_escalation")
    op.drop_table("notification_preference")
