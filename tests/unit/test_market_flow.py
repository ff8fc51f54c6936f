"""The market's flow as pure math (adapters/market/flow.py): given pools and a seeded rng, one tick's trades."""

from __future__ import annotations

import random
from decimal import Decimal as D
from decimal import localcontext

import pytest

from order_engine.adapters.market import flow
from order_engine.adapters.market.flow import (
    MAX_FLOW_BPS,
    VENUE_GAP_BPS,
    arbitrage_pull,
    flow_bps,
    tick_targets,
    tick_trades,
)
from order_engine.adapters.market.table import default_pools
from order_engine.domain import amm
from order_engine.domain.amm import PRICE_CONTEXT, Pool


def pair(base: str = "SOL", quote: str = "USDC", seed: str = "flow") -> list[Pool]:
    return [p for p in default_pools(seed=seed) if (p.base, p.quote) == (base, quote)]


def mid(pool: Pool) -> D:
    return amm.mid_price(pool, pool.base, pool.quote)


def apply(pools: list[Pool], trades: list[flow.FlowTrade]) -> list[Pool]:
    by_venue = {(p.venue, p.base, p.quote): p for p in pools}
    for t in trades:
        key = (t.venue, t.base, t.quote)
        by_venue[key] = amm.swapped(by_venue[key], t.token_in, t.amount_in_units)[0]
    return list(by_venue.values())


def test_volatility_zero_means_no_flow_and_no_arbitrage() -> None:
    rng = random.Random("x")
    state = rng.getstate()
    assert tick_trades(default_pools(seed="a"), rng, 0) == []
    assert arbitrage_pull(0) == 0
    assert rng.getstate() == state  # nothing drawn: the next tick with flow sees the same numbers


def test_the_trades_are_a_function_of_the_pools_and_the_rng() -> None:
    pools = default_pools(seed="a")
    trades = tick_trades(pools, random.Random("tick-1"), 10)
    assert trades == tick_trades(list(reversed(pools)), random.Random("tick-1"), 10)  # input order is irrelevant
    assert trades != tick_trades(pools, random.Random("tick-2"), 10)
    assert len(trades) == 30 and {(t.venue, t.base, t.quote) for t in trades} == {
        (p.venue, p.base, p.quote) for p in pools
    }
    assert all(type(t.amount_in_units) is int and t.amount_in_units > 0 for t in trades)


def test_each_venue_moves_by_its_own_gaussian_draw_then_toward_the_pairs_mean() -> None:
    """The documented recipe, step by step: draws in (base, quote, venue) order, one per pool; the flow price
    mid·(1 + bps/10 000); then pull·(mean − price) of arbitrage; the trade is trade_to_price to that."""
    pools = pair("SOL", "USDC") + pair("BONK", "SOL")
    draws = random.Random("seed:7")
    order = sorted(pools, key=lambda p: (p.base, p.quote, p.venue))
    assert [(p.base, p.venue) for p in order] == [("BONK", "meteora"), ("BONK", "raydium"), ("SOL", "meteora"),
                                                  ("SOL", "raydium")]  # fmt: skip
    pull = arbitrage_pull(10)
    with localcontext(PRICE_CONTEXT):
        flowed = {p: mid(p) * (1 + D(repr(round(draws.gauss(0.0, 10), 4))) / 10_000) for p in order}
        expected = {}
        for p, price in flowed.items():
            mean = sum(v for q, v in flowed.items() if (q.base, q.quote) == (p.base, p.quote)) / 2
            expected[p] = price + pull * (mean - price)
    assert tick_targets(pools, random.Random("seed:7"), 10) == expected
    trades = tick_trades(pools, random.Random("seed:7"), 10)
    assert [(t.venue, t.base, t.target) for t in trades] == [(p.venue, p.base, expected[p]) for p in order]
    for t, p in zip(trades, order, strict=True):
        assert (t.token_in, t.amount_in_units) == amm.trade_to_price(p, expected[p])


def test_each_trade_lands_its_pool_at_its_target_to_the_unit() -> None:
    pools = default_pools(seed="b")
    trades = tick_trades(pools, random.Random("t"), 25)
    after = {(p.venue, p.base, p.quote): p for p in apply(pools, trades)}
    for t in trades:
        moved = after[(t.venue, t.base, t.quote)]
        # Never carried past the target (selling base lowers the price, selling quote raises it) ...
        assert mid(moved) >= t.target if t.token_in == t.base else mid(moved) <= t.target
        assert abs(mid(moved) / t.target - 1) < D("1e-9")  # ... and right there


def test_arbitrage_closes_the_gap_between_venues_by_the_pull() -> None:
    pools = pair()
    rng = random.Random("gap")
    with localcontext(PRICE_CONTEXT):
        meteora, raydium = (mid(p) * (1 + flow_bps(rng, 40) / 10_000) for p in pools)  # the flow alone
        targets = {p.venue: v for p, v in tick_targets(pools, random.Random("gap"), 40).items()}
        gap_after = targets["raydium"] - targets["meteora"]
        assert gap_after == pytest.approx((raydium - meteora) * (1 - arbitrage_pull(40)), rel=D("1e-25"))
        assert targets["raydium"] + targets["meteora"] == pytest.approx(raydium + meteora, rel=D("1e-30"))


def test_the_pull_is_what_keeps_the_venue_gap_stationary_at_its_target() -> None:
    """2σ²(1 − α)² / (1 − (1 − α)²) is the stationary variance of the gap between two venues."""
    for sigma in (1, 10, 50, 300, 1000):
        a = arbitrage_pull(sigma)
        assert 0 < a < 1
        with localcontext(PRICE_CONTEXT):
            variance = 2 * D(sigma) ** 2 * (1 - a) ** 2 / (1 - (1 - a) ** 2)
        assert variance == pytest.approx(VENUE_GAP_BPS**2, rel=D("1e-20"))
    assert D("0.0024") < arbitrage_pull(10) < D("0.0025")  # the default: a gap halves in ~280 ticks


def simulate(pools: list[Pool], sigma: float, ticks: int, seed: str) -> list[float]:
    """The gap raydium/meteora − 1 of one pair, in bps, after each of `ticks` ticks."""
    gaps = []
    for n in range(ticks):
        pools = apply(pools, tick_trades(pools, random.Random(f"{seed}:{n}"), sigma))
        by = {p.venue: mid(p) for p in pools}
        gaps.append(float(by["raydium"] / by["meteora"] - 1) * 10_000)
    return gaps


def test_the_venues_stay_a_few_percent_apart_and_the_better_one_changes() -> None:
    """Over 2 000 ticks at 50 bps (35 half-lives of a gap) the gap's rms is the target ~2 %; over an hour of
    ticks at the default 10 bps the venues never drift more than 8 % apart (the table starts them up to 5 %) and trade places many times. Without
    the arbitrage step the gap random-walks (rms ~30 % at 50 bps); with a pull of 1 the venues move as one."""
    gaps = simulate(pair(), 50, 2000, "fast")
    rms = (sum(g * g for g in gaps) / len(gaps)) ** 0.5
    assert 0.8 * float(VENUE_GAP_BPS) < rms < 1.25 * float(VENUE_GAP_BPS), rms

    gaps = simulate(pair("SOL", "USDC", seed="slow"), 10, 3600, "slow")
    assert max(abs(g) for g in gaps) < 800, max(gaps, key=abs)
    flips = sum((a > 0) != (b > 0) for a, b in zip(gaps, gaps[1:], strict=False))
    assert flips >= 5, flips  # the better venue changes over time
    assert min(abs(g) for g in gaps[-600:]) < 50 < max(abs(g) for g in gaps)  # neither stuck apart nor together


class Extreme(random.Random):
    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return -1e9


def test_a_flow_move_is_clamped_so_a_price_never_reaches_zero() -> None:
    assert flow_bps(Extreme(), 1000) == D(-MAX_FLOW_BPS)
    (pool,) = [p for p in pair() if p.venue == "raydium"]
    targets = tick_targets([pool], Extreme(), 1000)
    assert targets[pool] == pytest.approx(mid(pool) / 2, rel=D("1e-30"))
