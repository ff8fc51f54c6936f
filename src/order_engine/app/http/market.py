"""HTTP: the market as it is now — what each venue would give for an amount, and every pool's price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter

from order_engine.adapters.market.table import VENUE_FEES_BPS, orient
from order_engine.adapters.mock_dex.venue import pool_pair, tradable
from order_engine.app.http.schemas import MarketBook, MarketPrices, MarketQuote, problem_responses
from order_engine.app.services import Services
from order_engine.domain import amm
from order_engine.domain.errors import DexUnavailable, InvalidOrder, UnsupportedPair
from order_engine.domain.money import dec_str, parse_amount
from order_engine.domain.quotes import Quote, select_best
from order_engine.domain.requests import OrderRequest, validate
from order_engine.domain.tokens import market_symbol, token

Pair = Annotated[str, QueryParameter(max_length=40, description="BASE/QUOTE, e.g. SOL/USDC (either way round)")]
Symbol = Annotated[str, QueryParameter(max_length=16, description="Token symbol, case-insensitive (SOL, USDC, …)")]
Amount = Annotated[str, QueryParameter(max_length=40, description='Amount of tokenIn, a plain decimal string ("1.5")')]


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
        # The order's own rules (known tokens, different mints, amount > 0 with the token's decimals at most).
        if services.tokens is not None and (token(tokenIn) is None or token(tokenOut) is None):
            await services.tokens.refresh()  # a token launched since this process last looked
        request = validate(OrderRequest(tokenIn, tokenOut, parse_amount(amountIn, "amountIn")))
        tin, tout, amount = request.token_in, request.token_out, request.amount_in
        try:
            symbol_in, _, base, quote = pool_pair(tin, tout)
        except UnsupportedPair as exc:
            raise InvalidOrder("tokenOut", str(exc)) from None
        pools = [await services.market.get(venue, base, quote) for venue in sorted(VENUE_FEES_BPS)]
        present = [pool for pool in pools if pool is not None]
        if not present:  # the pools were never seeded: no process has reached Redis since it started
            raise HTTPException(status_code=503, detail="market unavailable: no pools yet, try again shortly")
        now = datetime.now(UTC)
        tradable_now, closed = [], []
        for pool in present:
            try:
                tradable_now.append(tradable(pool, pool.venue, now))
            except DexUnavailable as exc:  # a launch pool before its opening
                closed.append(str(exc))
        if not tradable_now:
            raise HTTPException(status_code=503, detail="; ".join(closed))
        quotes = [amm.quote(pool, symbol_in, amount) for pool in tradable_now]
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
        return msgspec.convert(await prices_body(services), MarketPrices)

    @get("/book", responses=problem_responses(400, 429, 503))
    async def book(self, services: NamedDependency[Services], pair: Pair) -> MarketBook:
        """Resting limit orders of a pair by price level, in its canonical orientation (SOL/USDC: USDC per SOL):
        `asks` sell the base at their limit, `bids` sell the quote at 1/limit (their limit is base per quote)."""
        return msgspec.convert(await book_body(services, pair), MarketBook)


async def prices_body(services: Services) -> dict[str, Any]:
    """`GET /api/market/prices`'s answer (the console's stream sends the same)."""
    pools = await services.market.all()
    return {
        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "prices": [
            {"pair": f"{p.base}/{p.quote}", "venue": p.venue, "price": dec_str(amm.mid_price(p, p.base, p.quote))}
            for p in sorted(pools, key=lambda p: (p.base, p.quote, p.venue))
        ],
    }


async def book_body(services: Services, pair: str) -> dict[str, Any]:
    """`GET /api/market/book`'s answer for `pair` (a 400 naming `pair` for one no pool trades)."""
    if services.tokens is not None and any(token(p) is None for p in pair.split("/")):
        await services.tokens.refresh()  # a pair of a token launched since this process last looked
    base, quote = _pair(pair)
    aliases = {"SOL": ("SOL", "WSOL")}
    symbols = [*aliases.get(base, (base,)), *aliases.get(quote, (quote,))]
    asks: dict[Decimal, list[Decimal]] = {}
    bids: dict[Decimal, list[Decimal]] = {}
    for token_in, limit, amount, count in await services.book.resting_book(symbols):
        selling_base = market_symbol(token_in) == base
        price = limit if selling_base else amm.PRICE_CONTEXT.divide(Decimal(1), limit)
        level = (asks if selling_base else bids).setdefault(price.normalize(), [Decimal(0), Decimal(0)])
        level[0] += amount
        level[1] += count

    def levels(side: dict[Decimal, list[Decimal]], token: str, descending: bool) -> list[dict[str, object]]:
        return [
            {"price": dec_str(price), "amount": dec_str(total), "token": token, "orders": int(count)}
            for price, (total, count) in sorted(side.items(), reverse=descending)
        ]

    return {"pair": f"{base}/{quote}", "asks": levels(asks, base, False), "bids": levels(bids, quote, True)}


def _pair(text: str) -> tuple[str, str]:
    """(base, quote) of a pair the market trades, named either way round; a 400 naming `pair` otherwise."""
    parts = text.upper().split("/")
    if len(parts) != 2 or not all(parts):
        raise InvalidOrder("pair", f"{text[:40]!r} is not BASE/QUOTE, e.g. SOL/USDC")
    try:
        _, _, base, quote = pool_pair(*parts)
    except UnsupportedPair:
        raise InvalidOrder("pair", f"the market has no {parts[0]}/{parts[1]} pools") from None
    return orient(base, quote)
