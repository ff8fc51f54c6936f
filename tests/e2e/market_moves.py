"""Steering the shared pools from a test, straight through RedisPoolStore (exact, and on the events stream)."""

from __future__ import annotations

from decimal import Decimal

import redis.asyncio as aioredis

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.domain import amm
from order_engine.domain.amm import Pool

VENUES = ("meteora", "raydium")


async def move_by_bps(redis_url: str, prefix: str, bps: int, base: str = "SOL", quote: str = "USDC") -> list[Pool]:
    """Every venue's base/quote mid price × (1 + bps / 10 000); the pools after."""
    redis = aioredis.Redis.from_url(redis_url)
    store = RedisPoolStore(redis, prefix=prefix)

    def change(pool: Pool) -> tuple[Pool, Pool]:
        target = amm.mid_price(pool, base, quote) * (1 + Decimal(bps) / 10_000)
        step = amm.trade_to_price(pool, target)
        moved = pool if step is None else amm.swapped(pool, *step)[0]
        return moved, moved

    try:
        return [await store.update(venue, base, quote, change) for venue in VENUES]
    finally:
        await redis.aclose()
