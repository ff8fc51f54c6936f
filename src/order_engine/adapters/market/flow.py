"""The market's own flow between orders, as pure math: one tick's trades, from the pools and a seeded rng.

Each tick every pool takes two moves, in price terms:

1. **Flow** (other traders): its mid price (quote per base) moves by a Gaussian number of bps, std-dev
   `volatility_bps`, drawn for each venue independently (clamped at ±MAX_FLOW_BPS so a price never reaches 0).
2. **Arbitrage**: each venue's price is then pulled `arbitrage_pull(volatility_bps)` of the way toward the
   pair's mean price across venues.

The two are netted into one trade per pool, the one `amm.trade_to_price` gives for the price both moves lead
to: one swap, one pool version and one events-stream entry per pool and tick. With volatility 0 there is no
flow and no arbitrage: no trades.

Why the pull is derived, not fixed. For two venues the gap d between their prices evolves as
d' = (1 − α)(d + ε₁ − ε₂), with ε ~ N(0, σ²) (σ = volatility): a mean-reverting process whose stationary
variance is 2σ²(1 − α)² / (1 − (1 − α)²). Setting that to VENUE_GAP_BPS² and solving gives
α = 1 − √(r / (1 + r)), r = VENUE_GAP_BPS² / 2σ², so the venues' dispersion stays what the starting table
has (each venue within ±2.5 % of the reference, uniformly: a gap with std-dev 2.5 %·√(2/3) ≈ 2 %) whatever
the volatility. A fixed pull would not: too weak and the venues random-walk apart, too strong and they move
as one, so the better venue would never change. At the default 10 bps per tick α ≈ 0.0025 (a gap halves in
about 280 ticks, ~5 minutes at one tick a second): the better venue changes every few minutes while the
venues stay a few percent apart, as the seed design's 2–5 % spread has them. Any number of venues behaves
the same (every pairwise gap follows the recursion above).

Pairs move independently: there is no triangular arbitrage between SOL/USDC, SOL/USDT and USDT/USDC, and
every pair, stablecoins included, has the same volatility.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal, localcontext

import attrs

from order_engine.domain import amm
from order_engine.domain.amm import BPS, PRICE_CONTEXT, Pool

VENUE_GAP_BPS = Decimal(200)  # stationary std-dev of the gap between two venues' prices (the table's ~2 %)
MAX_FLOW_BPS = 5_000.0  # one tick's flow never moves a price by more than half (a draw of 5 σ at 1 000 bps)


@attrs.frozen
class FlowTrade:
    """Sell `amount_in_units` of `token_in` into the venue's pool, aiming its mid price at `target`."""

    venue: str
    base: str
    quote: str
    token_in: str
    amount_in_units: int
    target: Decimal  # quote per base


def arbitrage_pull(volatility_bps: float) -> Decimal:
    """α, the fraction of the way to the pair's mean each venue is pulled per tick (see the module doc)."""
    if volatility_bps <= 0:
        return Decimal(0)
    with localcontext(PRICE_CONTEXT) as ctx:
        sigma = Decimal(repr(float(volatility_bps)))
        r = VENUE_GAP_BPS**2 / (2 * sigma**2)
        return 1 - (r / (1 + r)).sqrt(ctx)


def flow_bps(rng: random.Random, volatility_bps: float) -> Decimal:
    """One venue's flow move in bps: Gaussian, clamped, to four decimals (so a Decimal, exactly)."""
    move = max(-MAX_FLOW_BPS, min(MAX_FLOW_BPS, rng.gauss(0.0, volatility_bps)))
    return Decimal(repr(round(move, 4)))


def ordered(pools: Iterable[Pool]) -> list[Pool]:
    """The order the rng is drawn in: by pair, then venue (so adding a pair never reshuffles another's draws)."""
    return sorted(pools, key=lambda p: (p.base, p.quote, p.venue))


def tick_targets(pools: Iterable[Pool], rng: random.Random, volatility_bps: float) -> dict[Pool, Decimal]:
    """Each pool's price after this tick's flow and arbitrage (quote per base); empty with volatility 0."""
    if volatility_bps <= 0:
        return {}
    pull = arbitrage_pull(volatility_bps)
    with localcontext(PRICE_CONTEXT):
        flowed = {
            pool: amm.mid_price(pool, pool.base, pool.quote) * (1 + flow_bps(rng, volatility_bps) / BPS)
            for pool in ordered(pools)
        }
        pairs: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
        for pool, price in flowed.items():
            pairs[(pool.base, pool.quote)].append(price)
        means = {pair: sum(prices) / len(prices) for pair, prices in pairs.items()}
        return {pool: price + pull * (means[(pool.base, pool.quote)] - price) for pool, price in flowed.items()}


def tick_trades(pools: Iterable[Pool], rng: random.Random, volatility_bps: float) -> list[FlowTrade]:
    """The trades of one tick: for each pool, the one that moves it to its target (none where the pool is
    already there to the unit). Pure: the same pools and the same rng state give the same trades."""
    trades = []
    for pool, target in tick_targets(pools, rng, volatility_bps).items():
        step = amm.trade_to_price(pool, target)
        if step is not None:
            trades.append(FlowTrade(pool.venue, pool.base, pool.quote, step[0], step[1], target))
    return trades
