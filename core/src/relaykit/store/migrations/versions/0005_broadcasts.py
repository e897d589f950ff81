"""broadcasts, and notifications.broadcast_id

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=150), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("deadline_seconds", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("recipients_read", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("bad_rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("enqueue_done", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("tenant", "key", name=op.f("uq_broadcasts_tenant_key")),
    )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("broadcast_id", sa.String(length=32), nullable=True))
        batch.create_index(batch.f("ix_notifications_broadcast_id"), ["broadcast_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index(batch.f("ix_notifications_broadcast_id"))
        batch.drop_column("broadcast_id")
    op.drop_table("broadcasts")
