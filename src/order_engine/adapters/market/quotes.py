"""MarketQuotes on the shared pools: what each venue's pool gives for an amount right now (no DEX latency)."""

from __future__ import annotations

from decimal import Decimal

from redis.exceptions import RedisError

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.table import VENUE_FEES_BPS
from order_engine.adapters.mock_dex.venue import pool_pair
from order_engine.domain import amm
from order_engine.domain.amm import PoolQuote
from order_engine.domain.errors import DexUnavailable, UnsupportedPair


class PoolQuotes:
    def __init__(self, store: RedisPoolStore) -> None:
        self._store = store

    async def quotes(self, token_in: str, token_out: str, amount_in: Decimal) -> list[PoolQuote]:
        """One quote per venue with a pool for the pair, in venue order; [] when no venue trades it."""
        try:
            symbol_in, _, base, quote = pool_pair(token_in, token_out)
        except UnsupportedPair:
            return []
        try:
            pools = [await self._store.get(venue, base, quote) for venue in sorted(VENUE_FEES_BPS)]
        except RedisError as exc:
            raise DexUnavailable(f"pool state unavailable ({type(exc).__name__})") from exc
        return [amm.quote(pool, symbol_in, amount_in) for pool in pools if pool is not None]
