"""The market's pools in PostgreSQL: the market leader's snapshot, from which a Redis that lost them is reseeded.

Reserves are exact integers in base units (a SOL/USDC pool's k is ~1e29, a BONK reserve ~1e16):
NUMERIC(78, 0) holds any 256-bit integer, never a float. `version` is the pool's compare-and-set version in
Redis; a snapshot only ever moves a row forward (`… ON CONFLICT … WHERE market_pools.version < excluded.version`).
`key_prefix` is the Redis key prefix (`ORDER_ENGINE_KEY_PREFIX`) of the market the row mirrors: deployments (and
test stacks) that share a database but not a prefix keep separate markets, as they do in Redis.

Revision ID: 0004_market_state
Revises: 0003_resting_orders
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_market_state"
down_revision = "0003_resting_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_pools",
        sa.Column("key_prefix", sa.String(255), primary_key=True),
        sa.Column("venue", sa.String(32), primary_key=True),
        sa.Column("base", sa.String(16), primary_key=True),
        sa.Column("quote", sa.String(16), primary_key=True),
        sa.Column("base_decimals", sa.SmallInteger(), nullable=False),
        sa.Column("quote_decimals", sa.SmallInteger(), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("base_reserve", sa.Numeric(78, 0), nullable=False),
        sa.Column("quote_reserve", sa.Numeric(78, 0), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("base_reserve > 0 AND quote_reserve > 0", name="ck_market_pools_reserves"),
    )


def downgrade() -> None:
    op.drop_table("market_pools")
