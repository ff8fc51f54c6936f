"""Token launches (the simulator's `POST /api/sim/launches`): a new token, its first pool and its authorities.

A launch is validated here (InvalidOrder naming the field), then the adapter derives the mint, registers the
token in the shared registry and seeds the pool. `Launch` is what the registry keeps of it: what a sniper's
safety checks read (mint and freeze authorities) and when its pool opens.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from order_engine.domain import amm
from order_engine.domain.errors import InvalidOrder
from order_engine.domain.money import dec_str
from order_engine.domain.tokens import Token, is_symbol, token

VENUES = ("meteora", "raydium")
QUOTE_TOKENS = ("SOL", "USDC", "USDT")  # what the market quotes pairs in: the launched token is always the base
MAX_DECIMALS = 9
MAX_LAUNCH_LIQUIDITY = Decimal("1e12")
MAX_OPENS_IN = timedelta(days=7)


@attrs.frozen
class Launch:
    symbol: str
    mint: str
    decimals: int
    venue: str
    quote_token: str  # the pool's other side, in the market's symbols (SOL, USDC, …)
    mint_authority_revoked: bool
    freeze_authority_revoked: bool
    opens_at: datetime | None  # None: open at once
    launched_at: datetime

    @property
    def token(self) -> Token:
        return Token(self.symbol, self.mint, self.decimals)


@attrs.frozen
class LaunchRequest:
    symbol: str
    decimals: int
    venue: str
    quote_token: str
    initial_price: Decimal  # quote token per launched token
    liquidity: Decimal  # quote token units on the pool's quote side
    mint_authority_revoked: bool = True
    freeze_authority_revoked: bool = True
    opens_at: datetime | None = None


def validate_launch(request: LaunchRequest, *, now: datetime) -> LaunchRequest:
    """The request with its symbols normalised, or InvalidOrder naming the first bad field. A symbol that is
    already registered is not judged here (the registry answers that: 409)."""
    if not is_symbol(request.symbol):
        raise InvalidOrder("symbol", "must be 2 to 10 ASCII letters or digits")
    if isinstance(request.decimals, bool) or not 0 <= request.decimals <= MAX_DECIMALS:
        raise InvalidOrder("decimals", f"must be an integer from 0 to {MAX_DECIMALS}")
    venue = request.venue.lower()
    if venue not in VENUES:
        raise InvalidOrder("venue", f"must be one of {', '.join(VENUES)}")
    quote = token(request.quote_token)
    if quote is None or quote.symbol not in QUOTE_TOKENS:
        raise InvalidOrder("quoteToken", f"must be one of {', '.join(QUOTE_TOKENS)}")
    price, liquidity = request.initial_price, request.liquidity
    if not price.is_finite() or price <= 0:
        raise InvalidOrder("initialPrice", "must be greater than 0")
    if not liquidity.is_finite() or liquidity <= 0:
        raise InvalidOrder("liquidity", "must be greater than 0")
    if liquidity > MAX_LAUNCH_LIQUIDITY:
        raise InvalidOrder("liquidity", f"must be at most {dec_str(MAX_LAUNCH_LIQUIDITY)}")
    if liquidity != quote.round_down(liquidity):
        raise InvalidOrder("liquidity", f"{quote.symbol} has {quote.decimals} decimal places at most")
    supply = token_amount(liquidity, price, request.decimals)
    if supply <= 0:
        raise InvalidOrder("initialPrice", "leaves less than one unit of the token in the pool: lower it")
    opens = request.opens_at
    if opens is not None and opens > now + MAX_OPENS_IN:
        raise InvalidOrder("opensAt", f"must be within {MAX_OPENS_IN.days} days of now")
    return attrs.evolve(request, symbol=request.symbol.upper(), venue=venue, quote_token=quote.symbol)


def token_amount(liquidity: Decimal, price: Decimal, decimals: int) -> Decimal:
    """How much of the launched token sits on the pool's other side: liquidity / price, rounded down to a unit."""
    unit = Decimal(1).scaleb(-decimals)
    return amm.PRICE_CONTEXT.divide(liquidity, price).quantize(unit, rounding="ROUND_DOWN")


def launch_pool(
    request: LaunchRequest, *, now: datetime, fee_bps: int, launch_fee_bps: int = 0, fee_decay_ms: int = 0
) -> amm.Pool:
    """The launched token's first pool, the token as base: it opens at `opensAt` (or `now`), and a launch fee
    decays from there."""
    quote = token(request.quote_token)
    assert quote is not None
    base_amount = token_amount(request.liquidity, request.initial_price, request.decimals)
    pool = amm.Pool(
        venue=request.venue,
        base=request.symbol,
        quote=quote.symbol,
        base_reserve=int(base_amount.scaleb(request.decimals)),
        quote_reserve=int(request.liquidity.scaleb(quote.decimals)),
        base_decimals=request.decimals,
        quote_decimals=quote.decimals,
        fee_bps=fee_bps,
        version=0,
        opens_at_ms=amm.unix_ms(request.opens_at if request.opens_at is not None else now),
        launch_fee_bps=launch_fee_bps,
        fee_decay_ms=fee_decay_ms if launch_fee_bps else 0,
    )
    return pool
