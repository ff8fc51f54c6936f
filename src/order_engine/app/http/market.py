"""HTTP: the market as it is now — what each venue would give for an amount, and every pool's price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter

from order_engine.adapters.mock_dex.venue import pool_pair
from order_engine.app.http.schemas import MarketPrices, MarketQuote, problem_responses
from order_engine.app.services import Services
from order_engine.domain import amm
from order_engine.domain.errors import InvalidOrder, UnsupportedPair
from order_engine.domain.money import dec_str, parse_amount
from order_engine.domain.quotes import Quote, select_best
from order_engine.domain.requests import MAX_AMOUNT_IN
from order_engine.domain.tokens import TOKENS, token

Symbol = Annotated[str, QueryParameter(max_length=16, description="Token symbol, case-insensitive (SOL, USDC, …)")]
Amount = Annotated[str, QueryParameter(max_length=40, description='Amount of tokenIn, a plain decimal string ("1.5")')]


def _token(symbol: str, field: str) -> str:
    found = token(symbol)
    if found is None:
        raise InvalidOrder(field, f"unknown token {symbol[:16]!r}; supported: {', '.join(sorted(TOKENS))}")
    return found.symbol


def _pct(value: Decimal) -> str:
    return dec_str(value.quantize(Decimal("0.0001")))


class MarketController(Controller):
    path = "/api/market"
    tags = ["market"]

    @get("/quote", responses=problem_responses(400, 429, 503))
    async def quote(
        self, services: NamedDependency[Services], tokenIn: Symbol, tokenOut: Symbol, amountIn: Amount
    ) -> MarketQuote:
        """What each venue's pool would give for `amountIn` of `tokenIn` right now, and the better venue.

        `price` is the pool's mid price (tokenOut per tokenIn, before fee), `effectivePrice` = amountOut /
        amountIn after fee and price impact, `priceImpactPct` a percent (0.35 = 0.35 %). Writes nothing.
        """
        tin, tout = _token(tokenIn, "tokenIn"), _token(tokenOut, "tokenOut")
        if TOKENS[tin].mint == TOKENS[tout].mint:
            raise InvalidOrder("tokenOut", "must differ from tokenIn")
        amount = parse_amount(amountIn, "amountIn")
        if not 0 < amount <= MAX_AMOUNT_IN:
            raise InvalidOrder("amountIn", f"must be greater than 0 and at most {MAX_AMOUNT_IN:f}")
        if amount != TOKENS[tin].round_down(amount):
            raise InvalidOrder("amountIn", f"{tin} has {TOKENS[tin].decimals} decimal places at most")
        try:
            symbol_in, _, base, quote = pool_pair(tin, tout)
        except UnsupportedPair as exc:
            raise InvalidOrder("tokenOut", str(exc)) from None
        quotes = []
        for pool in [p for p in await services.market.all() if (p.base, p.quote) == (base, quote)]:
            quotes.append(amm.quote(pool, symbol_in, amount))
        if not quotes:  # the pools were never seeded: no process has reached Redis since it started
            raise HTTPException(status_code=503, detail="market unavailable: no pools yet, try again shortly")
        best = select_best(Quote(q.venue, q.price, q.fee_rate, q.amount_in, q.amount_out) for q in quotes)
        return msgspec.convert(
            {
                "tokenIn": tin,
                "tokenOut": tout,
                "amountIn": dec_str(amount),
                "quotes": [
                    {
                        "venue": q.venue,
                        "price": dec_str(q.price),
                        "effectivePrice": dec_str(q.effective_price),
                        "amountOut": dec_str(q.amount_out),
                        "feeRate": dec_str(q.fee_rate),
                        "priceImpactPct": _pct(q.price_impact_pct),
                    }
                    for q in quotes
                ],
                "best": best.venue,
            },
            MarketQuote,
        )

    @get("/prices", responses=problem_responses(429, 503))
    async def prices(self, services: NamedDependency[Services]) -> MarketPrices:
        """Every pool's mid price (quote per base, e.g. USDC per SOL for SOL/USDC), per pair and venue."""
        pools = await services.market.all()
        return msgspec.convert(
            {
                "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "prices": [
                    {
                        "pair": f"{p.base}/{p.quote}",
                        "venue": p.venue,
                        "price": dec_str(amm.mid_price(p, p.base, p.quote)),
                    }
                    for p in sorted(pools, key=lambda p: (p.base, p.quote, p.venue))
                ],
            },
            MarketPrices,
        )
