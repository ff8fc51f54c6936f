"""Limit and sniper orders: their conditions, time in force and arm count; slippage optional (a limit is its
own protection); an index over resting orders for the watcher and the book.

Revision ID: 0003_resting_orders
Revises: 0002_idempotency
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_resting_orders"
down_revision = "0002_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("orders", "slippage_bps", nullable=True)
    op.add_column("orders", sa.Column("limit_price", sa.String(80), nullable=True))
    op.add_column("orders", sa.Column("time_in_force", sa.String(3), nullable=True))
    op.add_column("orders", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("orders", sa.Column("trigger", postgresql.JSONB(), nullable=True))
    op.add_column("orders", sa.Column("safety", postgresql.JSONB(), nullable=True))
    op.add_column("orders", sa.Column("arm", sa.Integer(), nullable=True))
    op.create_index(
        "ix_orders_resting_pair",
        "orders",
        ["token_in", "token_out"],
        postgresql_where=sa.text("status = 'waiting'"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_resting_pair", table_name="orders")
    for column in ("arm", "safety", "trigger", "expires_at", "time_in_force", "limit_price"):
        op.drop_column("orders", column)
    op.execute("UPDATE orders SET slippage_bps = 50 WHERE slippage_bps IS NULL")
    op.alter_column("orders", "slippage_bps", nullable=False)
