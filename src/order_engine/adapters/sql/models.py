"""The `orders` table (snake_case columns for the seed schema's camelCase ones)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


class OrderRow(DefaultBase):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status", "status"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        # Resting orders by pair (migration 0003): the watcher's rebuild and the book read only these.
        Index("ix_orders_resting_pair", "token_in", "token_out", postgresql_where=text("status = 'waiting'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    order_type: Mapped[str] = mapped_column(String(20), nullable=False, server_default="market")
    token_in: Mapped[str] = mapped_column(String(64), nullable=False)
    token_out: Mapped[str] = mapped_column(String(64), nullable=False)
    # Decimal strings, as in the seed schema: exact, whatever the token's decimals.
    amount_in: Mapped[str] = mapped_column(String(80), nullable=False)
    slippage_bps: Mapped[int | None] = mapped_column(Integer, server_default="50")  # None on limit orders
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    dex_used: Mapped[str | None] = mapped_column(String(32))
    executed_price: Mapped[str | None] = mapped_column(String(80))
    amount_out: Mapped[str | None] = mapped_column(String(80))
    tx_hash: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # sha256 hex of the validated request (migration 0002): a replayed Idempotency-Key must match it.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Limit and sniper orders (migration 0003); None where they do not apply.
    limit_price: Mapped[str | None] = mapped_column(String(80))
    time_in_force: Mapped[str | None] = mapped_column(String(3))
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    safety: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    arm: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), nullable=False, server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), nullable=False, server_default=text("now()")
    )


class LaunchedTokenRow(DefaultBase):
    """Tokens launched after start-up (migration 0005): the durable copy of the shared registry."""

    __tablename__ = "launched_tokens"
    __table_args__ = (UniqueConstraint("key_prefix", "mint", name="uq_launched_tokens_mint"),)

    key_prefix: Mapped[str] = mapped_column(String(255), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(10), primary_key=True)
    mint: Mapped[str] = mapped_column(String(44), nullable=False)
    decimals: Mapped[int] = mapped_column(Integer, nullable=False)
    venue: Mapped[str] = mapped_column(String(32), nullable=False)
    quote_token: Mapped[str] = mapped_column(String(16), nullable=False)
    mint_authority_revoked: Mapped[bool] = mapped_column(Boolean, nullable=False)
    freeze_authority_revoked: Mapped[bool] = mapped_column(Boolean, nullable=False)
    opens_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    launched_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), nullable=False)
