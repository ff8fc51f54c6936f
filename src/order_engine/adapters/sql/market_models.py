"""The `market_pools` table (migration 0004): the last snapshot of every pool of the mock market."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, CheckConstraint, Integer, Numeric, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column


class MarketPoolRow(DefaultBase):
    __tablename__ = "market_pools"
    __table_args__ = (CheckConstraint("base_reserve > 0 AND quote_reserve > 0", name="ck_market_pools_reserves"),)

    # The Redis key prefix of the market this row mirrors (ORDER_ENGINE_KEY_PREFIX): one market per prefix.
    key_prefix: Mapped[str] = mapped_column(String(255), primary_key=True)
    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    base: Mapped[str] = mapped_column(String(16), primary_key=True)
    quote: Mapped[str] = mapped_column(String(16), primary_key=True)
    base_decimals: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    quote_decimals: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    fee_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    # Exact integers in base units (up to 78 digits: any 256-bit integer), read and written as text.
    base_reserve: Mapped[Decimal] = mapped_column(Numeric(78, 0), nullable=False)
    quote_reserve: Mapped[Decimal] = mapped_column(Numeric(78, 0), nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the pool's compare-and-set version
    updated_at: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), nullable=False, server_default=text("now()")
    )
    # A launch pool's opening (Unix ms) and launch fee schedule (migration 0005); 0 for the others.
    opens_at_ms: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    launch_fee_bps: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    fee_decay_ms: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
