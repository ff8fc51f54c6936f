"""Constant-product pool math: hand-computed examples, the x·y = k invariants, and exactness without floats."""

import ast
from decimal import Decimal as D
from decimal import localcontext
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_engine.domain import amm
from order_engine.domain.amm import Pool, amount_out, mid_price, new_pool, quote, scaled, swapped, trade_to_price

FEES = [0, 20, 25, 30, 100]


def pool(base_reserve: int, quote_reserve: int, fee_bps: int = 30, bd: int = 9, qd: int = 6) -> Pool:
    return Pool("raydium", "SOL", "USDC", base_reserve, quote_reserve, bd, qd, fee_bps, 0)


def sol_usdc(fee_bps: int = 30) -> Pool:
    """1 000 SOL against 150 000 USDC: mid price 150."""
    return new_pool(
        "raydium", "SOL", "USDC", base_amount=D(1000), price=D(150), base_decimals=9, quote_decimals=6, fee_bps=fee_bps
    )


def price_vs(p: Pool, target: D) -> int:
    """Sign of (the pool's exact mid price − target), compared as integers: no rounding at all."""
    num, den = target.as_integer_ratio()
    lhs, rhs = p.quote_reserve * 10**p.base_decimals * den, num * p.base_reserve * 10**p.quote_decimals
    return (lhs > rhs) - (lhs < rhs)


pools = st.builds(pool, st.integers(1, 10**30), st.integers(1, 10**30), st.sampled_from(FEES))
sides = st.sampled_from(["SOL", "USDC"])
amounts = st.integers(1, 10**32)


# --- amount_out: exact examples -------------------------------------------------------


@pytest.mark.parametrize(
    ("fee_bps", "expected"),
    [
        (0, 90909),  # 10^6·10^5·10000 / (10^10 + 10^5·10000) = 10^6/11 = 90909.09
        (20, 90743),  # 10^6·10^5·9980 / (10^10 + 10^5·9980) = 499000000/5499 = 90743.77
        (30, 90661),  # 10^6·10^5·9970 / (10^10 + 10^5·9970) = 997000000/10997 = 90661.09
    ],
)
def test_amount_out_hand_computed_for_each_fee(fee_bps, expected):
    assert amount_out(pool(10**6, 10**6, fee_bps), "SOL", 10**5) == expected
    assert amount_out(pool(10**6, 10**6, fee_bps), "USDC", 10**5) == expected  # symmetric reserves


def test_amount_out_of_a_real_sized_pool():
    # 10 SOL into 1000 SOL / 150 000 USDC at 0.3 %: 1.5e11·1e10·9970 / (1e16 + 1e10·9970) = 1480.737051595… USDC
    assert amount_out(sol_usdc(), "SOL", 10 * 10**9) == 1_480_737_051
    assert quote(sol_usdc(), "SOL", D(10)).amount_out == D("1480.737051")


def test_huge_reserves_stay_exact():
    # 10^20 SOL (10^29 base units) against 1.5e22 USDC; 1 % of the pool in. The floor of 14955·10^27 / 100997
    # has 27 digits; a float keeps 16 of them (1.4807370515955921e26), so any float on the way would show.
    big = pool(10**29, 15 * 10**27)
    assert amount_out(big, "SOL", 10**27) == 148_073_705_159_559_194_827_569_135
    after, out = swapped(big, "SOL", 10**27 + 1)
    assert out == (15 * 10**27) * (10**27 + 1) * 9970 // (10**33 + (10**27 + 1) * 9970)
    assert (after.base_reserve, after.quote_reserve) == (10**29 + 10**27 + 1, 15 * 10**27 - out)
    assert mid_price(big, "SOL", "USDC") == D(150)
    deep = new_pool(
        "m", "SOL", "USDC", base_amount=D(10**20), price=D("150.123456"), base_decimals=9, quote_decimals=6, fee_bps=20
    )
    assert (deep.base_reserve, deep.quote_reserve) == (10**29, 150_123_456 * 10**20)


def test_the_module_has_no_float_and_no_true_division():
    tree = ast.parse(Path(amm.__file__).read_text())
    floats = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    names = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "float"]
    divisions = [
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.BinOp | ast.AugAssign) and isinstance(n.op, ast.Div)
    ]
    assert (floats, names, divisions) == ([], [], [])


def test_bad_input_is_refused():
    p = sol_usdc()
    for units in (0, -1):
        with pytest.raises(ValueError, match="above zero"):
            amount_out(p, "SOL", units)
    with pytest.raises(TypeError):
        amount_out(p, "SOL", 1.5)
    with pytest.raises(ValueError, match="not in the SOL/USDC pool"):
        amount_out(p, "BONK", 1)
    with pytest.raises(ValueError, match="more than the token's 9 decimals"):
        quote(p, "SOL", D("0.0000000001"))
    with pytest.raises(ValueError, match="above zero"):
        quote(p, "USDC", D(0))
    assert quote(p, "SOL", D("1.5000000000")).amount_in_units == 1_500_000_000  # the value fits; the notation is free
    with pytest.raises(TypeError):
        Pool("raydium", "SOL", "USDC", 1e12, 1, 9, 6, 30, 0)
    with pytest.raises(ValueError):
        pool(0, 1)


# --- invariants -------------------------------------------------------------------------


@given(pools, sides, amounts)
def test_k_never_falls_and_rises_with_a_fee(p, side, dx):
    after, out = swapped(p, side, dx)
    k, k_after = p.base_reserve * p.quote_reserve, after.base_reserve * after.quote_reserve
    assert k_after >= k
    if p.fee_bps:
        assert k_after > k
    assert after.version == p.version + 1


@given(pools, sides, st.integers(1, 10**45))
def test_the_pool_never_pays_out_its_whole_reserve(p, side, dx):
    reserve_out = p.quote_reserve if side == "SOL" else p.base_reserve
    assert 0 <= amount_out(p, side, dx) < reserve_out


@given(pools, sides, amounts)
def test_effective_price_is_at_most_mid_price_less_the_fee(p, side, dx):
    # out/dx ≤ (y/x)·(1 − fee), cross-multiplied so that nothing rounds
    x, y = (p.base_reserve, p.quote_reserve) if side == "SOL" else (p.quote_reserve, p.base_reserve)
    assert amount_out(p, side, dx) * x * 10_000 <= y * dx * (10_000 - p.fee_bps)


@pytest.mark.parametrize("size", ["0.000000001", "0.5", "10", "250", "5000"])
def test_quoted_effective_price_is_at_most_mid_price_less_the_fee(size):
    q = quote(sol_usdc(), "SOL", D(size))
    assert q.effective_price <= q.price * (1 - q.fee_rate)
    assert q.fee_rate == D("0.003")


@given(pools, sides, st.integers(1, 10**30))
def test_a_round_trip_returns_less_than_it_started_with(p, side, dx):
    # Exactly, with γ = 1 − fee: back = γ²·dx·(x + dx)/(x + γ²·dx) before rounding. That is below dx, and is
    # below dx·γ² only to first order: the fee left in the pool deepens it for the way back.
    other = "USDC" if side == "SOL" else "SOL"
    x = p.base_reserve if side == "SOL" else p.quote_reserve
    there, got = swapped(p, side, dx)
    if got == 0:
        return
    _, back = swapped(there, other, got)
    g = 10_000 - p.fee_bps
    assert back <= dx
    assert back * (x * 10_000**2 + g * g * dx) <= g * g * dx * (x + dx)
    if p.fee_bps:
        assert back < dx


def test_a_small_round_trip_loses_about_two_fees():
    p = sol_usdc()
    there, got = swapped(p, "SOL", 10**6)  # 0.001 SOL into 1000 SOL
    _, back = swapped(there, "USDC", got)
    # 149 549.85 USDC units out, floored to 149 549; back 994 003.35 SOL units, floored. Unrounded it would be
    # 994 009.006: 1 − 0.997² = 0.5991 % of fees; the 0.85 USDC unit dropped is worth 5.7 SOL units.
    assert (got, back) == (149_549, 994_003)
    assert 10**6 - back >= 10**6 * (1 - D("0.997") ** 2)


@given(pools)
def test_the_two_mid_prices_are_reciprocal(p):
    with localcontext(prec=80):
        product = mid_price(p, "SOL", "USDC") * mid_price(p, "USDC", "SOL")
        assert abs(product - 1) <= D("2e-33")  # two roundings to 34 digits, half an ulp each


def test_mid_price_in_whole_tokens():
    assert mid_price(sol_usdc(), "SOL", "USDC") == D(150)
    assert mid_price(sol_usdc(), "USDC", "SOL") == D("0.006666666666666666666666666666666667")  # 34 digits
    with pytest.raises(ValueError):
        mid_price(sol_usdc(), "SOL", "SOL")


# --- price impact -----------------------------------------------------------------------


def test_price_impact_is_the_curve_cost_in_percent():
    q = quote(sol_usdc(), "SOL", D(10))
    assert q.price_impact_pct == D("0.9900990099009900990099009900990099")  # 100·10 / (1000 + 10)
    assert q.price == D(150) and q.effective_price == D("148.0737051")
    # with no fee the effective price is the mid price less exactly the impact (up to one output unit)
    free = quote(sol_usdc(fee_bps=0), "SOL", D(10))
    assert free.price_impact_pct == q.price_impact_pct
    assert abs(free.effective_price - free.price * (1 - free.price_impact_pct / 100)) <= D("0.000001") / 10


def test_price_impact_grows_with_size_and_vanishes_for_tiny_trades():
    sizes = ["0.000000001", "0.001", "1", "10", "100", "1000", "100000"]
    impacts = [quote(sol_usdc(), "SOL", D(s)).price_impact_pct for s in sizes]
    assert impacts == sorted(impacts) and len(set(impacts)) == len(impacts)
    assert 0 < impacts[0] < D("1.0001e-10")  # one base unit into 10^12
    assert impacts[-1] == D("99.00990099009900990099009900990099")


# --- trade_to_price ---------------------------------------------------------------------


@pytest.mark.parametrize(("target", "sells"), [(D(160), "USDC"), (D(140), "SOL"), (D("150.000001"), "USDC")])
@pytest.mark.parametrize("fee_bps", FEES)
def test_trade_to_price_lands_within_one_unit(target, sells, fee_bps):
    p = sol_usdc(fee_bps)
    token, units = trade_to_price(p, target)
    assert token == sells and units > 0
    side = 1 if sells == "SOL" else -1  # selling SOL approaches the target from above
    assert price_vs(swapped(p, token, units)[0], target) * side >= 0  # not past the target
    assert price_vs(swapped(p, token, units + 1)[0], target) * side < 0  # one more unit is
    assert abs(mid_price(swapped(p, token, units)[0], "SOL", "USDC") - target) < D("0.00001")


@given(pools, st.integers(1, 10**15), st.integers(0, 12))
def test_trade_to_price_brackets_any_target(p, digits, scale):
    target = D(digits).scaleb(-scale)
    result = trade_to_price(p, target)
    now = price_vs(p, target)
    if result is None:  # at the target, or a single unit in the right direction already passes it
        toward = "SOL" if now > 0 else "USDC"
        assert now == 0 or price_vs(swapped(p, toward, 1)[0], target) == -now
        return
    token, units = result
    assert token == ("SOL" if now > 0 else "USDC")
    assert price_vs(swapped(p, token, units)[0], target) in (0, now)
    assert price_vs(swapped(p, token, units + 1)[0], target) == -now


def test_trade_to_price_is_none_at_the_target():
    p = sol_usdc()
    assert trade_to_price(p, D(150)) is None
    one_unit, _ = swapped(p, "SOL", 1)  # the price after selling one base unit: 149.99999999985…
    with localcontext(prec=60):
        between = (mid_price(p, "SOL", "USDC") + mid_price(one_unit, "SOL", "USDC")) / 2
    assert price_vs(one_unit, between) < 0 < price_vs(p, between)
    assert trade_to_price(p, between) is None
    with pytest.raises(ValueError):
        trade_to_price(p, D(0))


# --- scaled and new_pool ----------------------------------------------------------------


def test_scaled_keeps_the_price_and_multiplies_depth():
    p = sol_usdc()
    deep = scaled(p, D(1000))
    assert (deep.base_reserve, deep.quote_reserve, deep.version) == (10**15, 15 * 10**13, 1)
    assert mid_price(deep, "SOL", "USDC") == D(150)
    out = amount_out(p, "SOL", 10**10)
    assert 1000 * out <= amount_out(deep, "SOL", 10**13) < 1000 * (out + 1)  # 1000× the trade, same price
    # 100·10/(10^6 + 10) against 100·10/(1000 + 10): about 990 times less
    assert quote(deep, "SOL", D(10)).price_impact_pct == D("0.0009999900000999990000099999000010000")
    assert quote(deep, "SOL", D(10)).price_impact_pct < quote(p, "SOL", D(10)).price_impact_pct / 990
    half = scaled(p, D("2.5"))
    assert (half.base_reserve, half.quote_reserve) == (2_500_000_000_000, 375_000_000_000)
    odd = scaled(pool(3, 7, fee_bps=0, bd=0, qd=0), D("0.5"))  # 1.5 and 3.5 round down to 1 and 3
    assert (odd.base_reserve, odd.quote_reserve) == (1, 3)
    with pytest.raises(ValueError):
        scaled(p, D(0))


def test_new_pool_holds_the_base_amount_at_the_price():
    p = new_pool(
        "meteora",
        "SOL",
        "USDC",
        base_amount=D("12.5"),
        price=D("160.1234567"),
        base_decimals=9,
        quote_decimals=6,
        fee_bps=20,
    )
    assert (p.base_reserve, p.quote_reserve, p.fee_bps, p.version) == (12_500_000_000, 2_001_543_209, 20, 0)
    # 12.5 × 160.1234567 = 2001.54320875 USDC → 2 001 543 208.75 units, to the nearest: …209
