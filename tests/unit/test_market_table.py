"""The market's starting pools: every pair on every venue, one orientation rule, prices a few percent apart."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from order_engine.adapters.market.table import DISPERSION, default_pools, orient, pairs, reference_price
from order_engine.domain.amm import mid_price


def test_every_pair_of_the_six_tokens_has_a_pool_on_both_venues() -> None:
    pools = default_pools(seed="t")
    assert len(pairs()) == 15 and len(pools) == 30
    assert {(p.base, p.quote) for p in pools} == set(pairs())
    assert {p.venue: p.fee_bps for p in pools} == {"raydium": 30, "meteora": 20}
    assert all(p.version == 0 for p in pools)


@pytest.mark.parametrize(
    ("a", "b", "pair"),
    [("USDC", "SOL", ("SOL", "USDC")), ("SOL", "USDT", ("SOL", "USDT")), ("USDC", "USDT", ("USDT", "USDC")),
     ("BONK", "SOL", ("BONK", "SOL")), ("SOL", "JUP", ("JUP", "SOL")), ("RAY", "JUP", ("JUP", "RAY"))],
)  # fmt: skip
def test_one_orientation_per_pair_whichever_way_it_is_named(a: str, b: str, pair: tuple[str, str]) -> None:
    assert orient(a, b) == orient(b, a) == pair


def test_venues_start_within_the_dispersion_of_the_reference_and_apart() -> None:
    pools = default_pools(seed="t")
    for pool in pools:
        ref = reference_price(pool.base, pool.quote)
        off = mid_price(pool, pool.base, pool.quote) / ref - 1
        assert abs(off) <= DISPERSION + D("0.0001"), (pool, off)  # + a unit's rounding on small pools
    sol = {p.venue: mid_price(p, "SOL", "USDC") for p in pools if (p.base, p.quote) == ("SOL", "USDC")}
    assert sol["raydium"] != sol["meteora"]
    assert abs(sol["raydium"] - D(150)) <= D(150) * DISPERSION


def test_the_same_seed_gives_the_same_market_and_depth_scales() -> None:
    assert default_pools(seed="a") == default_pools(seed="a") != default_pools(seed="b")
    deep = {(p.venue, p.base, p.quote): p for p in default_pools(seed="a", depth_scale=D(10))}
    for p in default_pools(seed="a"):
        d = deep[(p.venue, p.base, p.quote)]
        assert d.base_reserve == pytest.approx(p.base_reserve * 10, rel=D("1e-6"))
        assert mid_price(d, p.base, p.quote) == pytest.approx(mid_price(p, p.base, p.quote), rel=D("1e-6"))
    sol_usdc = next(p for p in default_pools(seed="a") if (p.venue, p.base, p.quote) == ("raydium", "SOL", "USDC"))
    assert sol_usdc.base_reserve == 5_000_000 * 10**9 // 150  # $5M of SOL at $150, in lamports
