"""The registry of launched tokens (the simulator's launches): the durable copy of `{prefix}:tokens` in Redis,
from which it is restored when Redis has lost it. Keyed by the key prefix, as Redis is: deployments (and test
stacks) sharing a database never see each other's tokens. The market's snapshot (`market_pools`, 0004) keeps
a launch pool's opening and launch fee schedule, so a pool restored from it opens and decays as it would have.

Revision ID: 0005_token_registry
Revises: 0004_market_state
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_token_registry"
down_revision = "0004_market_state"
branch_labels = None
depends_on = None

LAUNCH_COLUMNS = ("opens_at_ms", "launch_fee_bps", "fee_decay_ms")  # as domain/amm.Pool names them (0: none)


def upgrade() -> None:
    op.create_table(
        "launched_tokens",
        sa.Column("key_prefix", sa.String(255), primary_key=True),
        sa.Column("symbol", sa.String(10), primary_key=True),
        sa.Column("mint", sa.String(44), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("quote_token", sa.String(16), nullable=False),
        sa.Column("mint_authority_revoked", sa.Boolean(), nullable=False),
        sa.Column("freeze_authority_revoked", sa.Boolean(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("key_prefix", "mint", name="uq_launched_tokens_mint"),
    )
    for column in LAUNCH_COLUMNS:
        op.add_column("market_pools", sa.Column(column, sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    for column in reversed(LAUNCH_COLUMNS):
        op.drop_column("market_pools", column)
    op.drop_table("launched_tokens")
