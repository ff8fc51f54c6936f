"""The mock market's starting point: one constant-product pool per pair and venue, in one table.

Every pair of the tokens that trade today gets a pool on each venue (15 pairs, 30 pools): no route ever
needs two hops. A pair is oriented base/quote by one rule, so a price always reads the same way
(`SOL/USDC` = USDC per SOL): the quote is the first of USDC, USDT, SOL the pair holds, else the pair is
alphabetical. Pools start at the reference USD prices, each venue a few percent off (the seed design's
2–5 % spread between venues becomes their dispersion), with a depth per pair in USD per side that
`depth_scale` multiplies (the benchmarks use deep pools so one-way flow does not drain them).
"""

from __future__ import annotations

import itertools
from decimal import Decimal, localcontext

from order_engine.adapters.mock_dex.prices import USD_PRICES, rng_for, unit
from order_engine.domain.amm import Pool, new_pool
from order_engine.domain.tokens import TOKENS

VENUE_FEES_BPS = {"raydium": 30, "meteora": 20}
# A launch pool's fee at its opening, where the venue has an anti-sniper schedule (Meteora's fee scheduler):
# it decays to the venue's normal fee over ORDER_ENGINE_LAUNCH_FEE_DECAY_S (domain/amm.fee_bps_at).
LAUNCH_FEE_BPS = {"meteora": 5000}
QUOTE_PREFERENCE = ("USDC", "USDT", "SOL")
# USD value of each side of a pool; pairs not listed get DEFAULT_DEPTH_USD.
DEPTH_USD = {
    ("SOL", "USDC"): Decimal(5_000_000),
    ("SOL", "USDT"): Decimal(2_000_000),
    ("USDT", "USDC"): Decimal(3_000_000),
}
DEFAULT_DEPTH_USD = Decimal(500_000)
DISPERSION = Decimal("0.025")  # each venue starts within ±2.5 % of the reference price: up to 5 % apart
SYMBOLS = tuple(sorted(s for s in TOKENS if s != "WSOL"))  # WSOL is SOL's mint: the same pools


def orient(a: str, b: str) -> tuple[str, str]:
    """(base, quote) of the pair a/b, whichever way it is named."""
    for quote in QUOTE_PREFERENCE:
        if quote in (a, b):
            return (b if a == quote else a), quote
    return tuple(sorted((a, b)))  # type: ignore[return-value]


def pairs() -> list[tuple[str, str]]:
    return sorted(orient(a, b) for a, b in itertools.combinations(SYMBOLS, 2))


def reference_price(base: str, quote: str) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 18
        return USD_PRICES[base] / USD_PRICES[quote]


def default_pools(*, seed: str | None, depth_scale: Decimal = Decimal(1)) -> list[Pool]:
    """Every pool the market starts with. With a seed, the venues' offsets are a function of it."""
    pools = []
    for (base, quote), venue in itertools.product(pairs(), sorted(VENUE_FEES_BPS)):
        offset = (unit(rng_for(seed, "pool", venue, base, quote)) * 2 - 1) * DISPERSION
        depth = DEPTH_USD.get((base, quote), DEFAULT_DEPTH_USD) * depth_scale
        tin, tout = TOKENS[base], TOKENS[quote]
        pools.append(
            new_pool(
                venue,
                base,
                quote,
                base_amount=tin.round_down(depth / USD_PRICES[base]),
                price=reference_price(base, quote) * (1 + offset),
                base_decimals=tin.decimals,
                quote_decimals=tout.decimals,
                fee_bps=VENUE_FEES_BPS[venue],
            )
        )
    return pools
