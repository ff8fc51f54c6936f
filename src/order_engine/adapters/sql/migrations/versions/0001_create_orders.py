"""Create the orders table.

Revision ID: 0001_create_orders
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_create_orders"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("order_type", sa.String(20), nullable=False, server_default="market"),
        sa.Column("token_in", sa.String(64), nullable=False),
        sa.Column("token_out", sa.String(64), nullable=False),
        sa.Column("amount_in", sa.String(80), nullable=False),
        sa.Column("slippage_bps", sa.Integer(), nullable=False, server_default="50"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_history", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("dex_used", sa.String(32)),
        sa.Column("executed_price", sa.String(80)),
        sa.Column("amount_out", sa.String(80)),
        sa.Column("tx_hash", sa.String(100)),
        sa.Column("failure_reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("idempotency_key", sa.String(255), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"])


def downgrade() -> None:
    op.drop_table("orders")
