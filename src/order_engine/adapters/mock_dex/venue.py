"""Mock Raydium / Meteora quoting: the reference price spreads, fees and ~200 ms latency."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import attrs

from order_engine.adapters.mock_dex.prices import base_price, rng_for, rounded, unit
from order_engine.domain.errors import DexUnavailable
from order_engine.domain.quotes import Quote, amount_out_after_fee
from order_engine.domain.tokens import token


@attrs.frozen
class VenueModel:
    name: str
    fee_rate: Decimal
    spread_low: Decimal  # price = base × (spread_low + r × spread_width)
    spread_width: Decimal
    quote_latency_s: float = 0.2


RAYDIUM = VenueModel("raydium", Decimal("0.003"), Decimal("0.98"), Decimal("0.04"))
METEORA = VenueModel("meteora", Decimal("0.002"), Decimal("0.97"), Decimal("0.05"))


@attrs.define
class MockVenue:
    model: VenueModel
    latency_scale: float = 1.0
    failure_rate: float = 0.0
    seed: str | None = None

    @property
    def name(self) -> str:
        return self.model.name

    async def quote(
        self, token_in: str, token_out: str, amount_in: Decimal, *, order_id: uuid.UUID, attempt: int
    ) -> Quote:
        base = base_price(token_in, token_out)  # UnsupportedPair before any latency
        rng = rng_for(self.seed, order_id, attempt, self.name, "quote")
        if self.latency_scale:
            await asyncio.sleep(self.model.quote_latency_s * self.latency_scale * (0.8 + 0.4 * rng.random()))
        if rng.random() < self.failure_rate:
            raise DexUnavailable(f"{self.name}: quote request timed out")
        price = rounded(base * (self.model.spread_low + unit(rng) * self.model.spread_width))
        out_token = token(token_out)
        assert out_token is not None
        amount_out = out_token.round_down(amount_out_after_fee(amount_in, price, self.model.fee_rate))
        return Quote(
            venue=self.name,
            price=price,
            fee_rate=self.model.fee_rate,
            amount_in=amount_in,
            amount_out=amount_out,
        )


def default_venues(*, latency_scale: float, failure_rate: float, seed: str | None) -> list[MockVenue]:
    return [MockVenue(m, latency_scale, failure_rate, seed) for m in (RAYDIUM, METEORA)]


FEES = {m.name: m.fee_rate for m in (RAYDIUM, METEORA)}
