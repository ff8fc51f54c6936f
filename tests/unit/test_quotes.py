import itertools
from decimal import Decimal as D

import pytest

from order_engine.domain.quotes import Quote, amount_out_after_fee, min_amount_out, routing_reason, select_best
from order_engine.domain.tokens import TOKENS


def q(venue: str, amount_out: str, fee: str = "0.003", price: str = "1") -> Quote:
    return Quote(venue=venue, price=D(price), fee_rate=D(fee), amount_in=D("1"), amount_out=D(amount_out))


def priced(venue: str, price: str, fee: str, amount_in: str = "10") -> Quote:
    out = amount_out_after_fee(D(amount_in), D(price), D(fee))
    return Quote(venue=venue, price=D(price), fee_rate=D(fee), amount_in=D(amount_in), amount_out=out)


# --- amount_out_after_fee ---------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_in", "price", "fee", "expected"),
    [
        ("2", "150", "0.003", "299.1"),  # 300 × 0.997
        ("10", "100", "0.0025", "997.5"),  # 1000 × 0.9975
        ("10", "100.2", "0.005", "996.99"),  # 1002 × 0.995
        ("1.5", "100", "0", "150"),
    ],
)
def test_amount_out_after_fee(amount_in, price, fee, expected):
    assert amount_out_after_fee(D(amount_in), D(price), D(fee)) == D(expected)


# --- select_best --------------------------------------------------------------------


def test_highest_amount_out_wins():
    assert select_best([q("a", "99"), q("b", "101"), q("c", "100")]).venue == "b"


def test_higher_price_with_higher_fee_loses():
    cheap_fee = priced("raydium", price="100", fee="0.0025")  # 997.5
    high_price = priced("meteora", price="100.2", fee="0.005")  # 996.99
    assert high_price.price > cheap_fee.price
    assert select_best([high_price, cheap_fee]).venue == "raydium"
    assert select_best([cheap_fee, high_price]).venue == "raydium"


def test_fee_can_also_decide_for_the_higher_price():
    a = priced("raydium", price="100", fee="0.005")  # 995
    b = priced("meteora", price="100.2", fee="0.003")  # 998.994
    assert select_best([a, b]).venue == "meteora"


@pytest.mark.parametrize(
    "quotes",
    list(itertools.permutations([q("zeta", "100", fee="0.002"), q("alpha", "100", fee="0.003"), q("mid", "99")])),
)
def test_tie_goes_to_lower_fee_whatever_the_order(quotes):
    assert select_best(quotes).venue == "zeta"


@pytest.mark.parametrize(
    "quotes",
    list(itertools.permutations([q("raydium", "100"), q("meteora", "100"), q("orca", "100")])),
)
def test_full_tie_goes_to_venue_name_whatever_the_order(quotes):
    assert select_best(quotes).venue == "meteora"


def test_select_best_accepts_a_generator():
    assert select_best(x for x in [q("a", "1"), q("b", "2")]).venue == "b"


def test_select_best_of_nothing_raises():
    with pytest.raises(ValueError, match="no quotes"):
        select_best([])


# --- min_amount_out -------------------------------------------------------------------

USDC = TOKENS["USDC"].quantum  # 0.000001
BONK = TOKENS["BONK"].quantum  # 0.00001


@pytest.mark.parametrize(
    ("expected", "bps", "quantum", "result"),
    [
        ("100", 50, None, "99.5"),
        ("100", 50, USDC, "99.500000"),
        ("0.123457", 50, USDC, "0.122839"),  # 0.122839715 → down, not 0.122840
        ("0.123457", 0, USDC, "0.123457"),
        ("0.123457", 5000, USDC, "0.061728"),  # 0.0617285 → down, not 0.061729
        ("12345.67891", 100, BONK, "12222.22212"),  # 12222.2221209
        ("1", 1, None, "0.9999"),
    ],
)
def test_min_amount_out(expected, bps, quantum, result):
    out = min_amount_out(D(expected), bps, quantum)
    assert out == D(result)
    assert str(out) == result  # exact exponent: rounded to the token's decimals


def test_min_amount_out_never_exceeds_expected_and_never_rounds_up():
    for bps in (0, 1, 49, 50, 51, 333, 5000):
        out = min_amount_out(D("7.777777"), bps, USDC)
        exact = D("7.777777") * (10_000 - bps) / 10_000
        assert out <= exact < out + USDC


# --- routing_reason ---------------------------------------------------------------------


def test_reason_when_only_one_venue_quoted():
    best = q("meteora", "100")
    assert routing_reason(best, [best]) == "meteora was the only venue that quoted"
    assert routing_reason(best, []) == "meteora was the only venue that quoted"


def test_reason_names_runner_up_and_edge_in_bps():
    best, runner, third = q("raydium", "1010"), q("meteora", "1000"), q("orca", "990")
    assert routing_reason(best, [third, best, runner]) == "raydium returns 1010 vs meteora 1000 (+100.00 bps)"


def test_reason_edge_is_rounded_to_hundredths():
    best, runner = q("raydium", "997.5"), q("meteora", "996.99")
    # 0.51 / 996.99 × 10 000 = 5.1154…
    assert routing_reason(best, [best, runner]).endswith("(+5.12 bps)")


def test_reason_on_a_tie():
    best, other = q("meteora", "100", fee="0.002"), q("raydium", "100", fee="0.003")
    reason = routing_reason(best, [other, best])
    assert reason == "meteora tied with raydium on amountOut; lower fee or name breaks the tie"
