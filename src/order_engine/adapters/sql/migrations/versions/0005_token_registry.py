"""The registry of launched tokens (the simulator's launches): the durable copy of `{prefix}:tokens` in Redis,
from which it is restored when Redis has lost it. Keyed by the key prefix, as Redis is: deployments (and test
stacks) sharing a database never see each other's tokens.

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


def downgrade() -> None:
    op.drop_table("launched_tokens")
