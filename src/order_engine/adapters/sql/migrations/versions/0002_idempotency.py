"""Idempotency-Key support: the fingerprint of the request that first used a key.

Uniqueness of `idempotency_key` stays the table's UNIQUE constraint from 0001 (the target
of `INSERT … ON CONFLICT (idempotency_key)`); an expired key is released by setting the old
order's key to NULL in the transaction that reuses it.

Revision ID: 0002_idempotency
Revises: 0001_create_orders
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_idempotency"
down_revision = "0001_create_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("request_fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "request_fingerprint")
