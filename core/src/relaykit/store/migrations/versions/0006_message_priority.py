"""messages.priority and messages.validity_period: OTPs claimed first, and their ValidityPeriod

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("priority", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("validity_period", sa.Integer(), nullable=True))
        batch.create_index(
            "ix_messages_status_priority_next_attempt_at",
            ["status", "priority", "next_attempt_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_status_priority_next_attempt_at")
        batch.drop_column("validity_period")
        batch.drop_column("priority")
