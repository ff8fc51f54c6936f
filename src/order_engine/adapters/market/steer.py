"""Steering the market: trade a venue's pool until its mid price is where the caller wants it.

The move goes through `RedisPoolStore.update`: `amm.trade_to_price` is computed on the pool the update read
(again on a fresher pool if another change committed first), so it is exact, atomic, never loses a racing
swap and lands on the events stream like any change. The target is the largest trade that does not carry the
price past it: the price ends within one base unit's worth of it, on the side it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.domain import amm
from order_engine.domain.amm import BPS, PRICE_CONTEXT, Pool
from order_engine.domain.errors import InvalidOrder

# How far one move may take a price: down to 1/10 000 of it (byBps > −10 000, a price stays above 0) and up to
# 100 times it (byBps ≤ 990 000). Within that the pools stay sane (a reserve grows at most 100-fold); past it a
# typo (toPrice "1600000" for "160") would be taken literally.
MIN_MOVE_BPS = -9_999
MAX_MOVE_BPS = 990_000
MIN_FACTOR = 1 + Decimal(MIN_MOVE_BPS) / BPS  # 0.0001
MAX_FACTOR = 1 + Decimal(MAX_MOVE_BPS) / BPS  # 100


@attrs.frozen
class Moved:
    """One venue's pool before and after a move; prices are quote per base (the pool's orientation)."""

    venue: str
    before: Decimal
    after: Decimal
    pool: Pool


def price(pool: Pool) -> Decimal:
    return amm.mid_price(pool, pool.base, pool.quote)


def check_factor(target: Decimal, current: Decimal, field: str) -> None:
    """InvalidOrder naming `field` when `target` is more than the allowed move away from `current`."""
    factor = PRICE_CONTEXT.divide(target, current)
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise InvalidOrder(
            field,
            f"moves the price from {current:f} by a factor of {factor:.6g}; one move goes from {MIN_FACTOR:f} to"
            f" {MAX_FACTOR:f} times the current price (byBps {MIN_MOVE_BPS} to {MAX_MOVE_BPS})",
        )


async def move_pool(
    store: RedisPoolStore, venue: str, base: str, quote: str, target: Callable[[Pool], Decimal], *, field: str
) -> Moved:
    """Move the venue's base/quote pool to `target(pool)` (quote per base), computed on the pool each attempt
    reads; InvalidOrder naming `field` (nothing written) when that target is beyond one move's bound."""

    def change(pool: Pool) -> tuple[Pool, Moved]:
        before, goal = price(pool), target(pool)
        check_factor(goal, before, field)
        step = amm.trade_to_price(pool, goal)
        new = pool if step is None else amm.swapped(pool, *step)[0]
        return new, Moved(venue, before, price(new), new)

    return await store.update(venue, base, quote, change)
