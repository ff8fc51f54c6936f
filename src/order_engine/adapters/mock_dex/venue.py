"""Mock Raydium / Meteora quoting from their constant-product pools in Redis, with ~200 ms latency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import attrs
from redis.exceptions import RedisError

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.table import VENUE_FEES_BPS, orient
from order_engine.adapters.mock_dex.prices import rng_for
from order_engine.domain import amm
from order_engine.domain.errors import DexUnavailable, UnsupportedPair
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import market_symbol, token


@attrs.frozen
class VenueModel:
    name: str
    fee_rate: Decimal
    quote_latency_s: float = 0.2


RAYDIUM = VenueModel("raydium", Decimal(VENUE_FEES_BPS["raydium"]) / 10_000)
METEORA = VenueModel("meteora", Decimal(VENUE_FEES_BPS["meteora"]) / 10_000)


def pool_pair(token_in: str, token_out: str) -> tuple[str, str, str, str]:
    """(symbol in, symbol out, base, quote) of the pools for a pair of known tokens (static or launched; SOL
    stands for WSOL too, a mint for its symbol). Whether a venue has the pool is the store's to say."""
    if token(token_in) is None or token(token_out) is None:
        raise UnsupportedPair(f"no pool for {token_in}/{token_out}")
    a, b = market_symbol(token_in), market_symbol(token_out)
    if a == b:
        raise UnsupportedPair(f"no pool for {token_in}/{token_out}")
    base, quote = orient(a, b)
    return a, b, base, quote


def tradable(pool: amm.Pool, venue: str, now: datetime) -> amm.Pool:
    """The pool as it trades at `now` (its fee of that moment), or DexUnavailable while it is not open yet."""
    if not amm.is_open(pool, now):
        opens = datetime.fromtimestamp(pool.opens_at_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        raise DexUnavailable(f"{venue}: {pool.base}/{pool.quote} pool not open yet (opens at {opens})")
    return amm.at(pool, now)


@attrs.define
class MockVenue:
    model: VenueModel
    store: RedisPoolStore
    latency_scale: float = 1.0
    failure_rate: float = 0.0
    seed: str | None = None

    @property
    def name(self) -> str:
        return self.model.name

    async def quote(
        self, token_in: str, token_out: str, amount_in: Decimal, *, order_id: uuid.UUID, attempt: int
    ) -> Quote:
        """What the venue's pool gives right now: its mid price, and the output after fee and price impact."""
        tin, _, base, quote = pool_pair(token_in, token_out)  # UnsupportedPair before any latency
        rng = rng_for(self.seed, order_id, attempt, self.name, "quote")
        if self.latency_scale:
            await asyncio.sleep(self.model.quote_latency_s * self.latency_scale * (0.8 + 0.4 * rng.random()))
        if rng.random() < self.failure_rate:
            raise DexUnavailable(f"{self.name}: quote request timed out")
        try:
            pool = await self.store.get(self.name, base, quote)
        except RedisError as exc:
            raise DexUnavailable(f"{self.name}: pool state unavailable ({type(exc).__name__})") from exc
        if pool is None:
            raise UnsupportedPair(f"{self.name} has no {base}/{quote} pool")
        q = amm.quote(tradable(pool, self.name, datetime.now(UTC)), tin, amount_in)
        return Quote(venue=self.name, price=q.price, fee_rate=q.fee_rate, amount_in=amount_in, amount_out=q.amount_out)


def default_venues(
    store: RedisPoolStore, *, latency_scale: float, failure_rate: float, seed: str | None
) -> list[MockVenue]:
    return [MockVenue(m, store, latency_scale, failure_rate, seed) for m in (RAYDIUM, METEORA)]
