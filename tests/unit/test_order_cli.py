"""The order commands' pure parts: durations and times, the body the arguments make, and the timeline's lines."""

import argparse
from datetime import UTC, datetime

import pytest

from order_engine.app.cli import parser
from order_engine.app.client.common import duration_s, moment
from order_engine.app.client.orders import order_body
from order_engine.app.client.timeline import describe

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("30", 30)])
def test_durations(text, seconds):
    assert duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-5s", "2w", "infs", "nan"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        duration_s(text)


def test_expiry_is_a_duration_from_now_or_an_rfc3339_time_with_its_offset():
    assert moment("2h", now=NOW) == "2026-12-02T14:00:00+00:00"
    assert moment("2026-12-03T00:00:00Z") == "2026-12-03T00:00:00+00:00"
    assert moment("2026-12-03T01:00:00+01:00") == "2026-12-03T01:00:00+01:00"
    for bad in ("2026-12-03T00:00:00", "tomorrow"):
        with pytest.raises(ValueError):
            moment(bad)


def args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["submit", *argv])


def test_a_market_order_sends_only_what_was_given():
    assert order_body(args("SOL", "USDC", "1.5")) == {
        "tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "orderType": "market",
    }  # fmt: skip
    assert order_body(args("SOL", "USDC", "1.5", "--slippage-bps", "75"))["slippageBps"] == 75


def test_a_limit_order_with_an_expiry_is_gtd_unless_told_otherwise():
    body = order_body(args("SOL", "USDC", "2", "--type", "limit", "--limit-price", "160", "--expires", "2h"))
    assert (body["limitPrice"], body["timeInForce"]) == ("160", "GTD") and body["expiresAt"].endswith("+00:00")
    body = order_body(args("SOL", "USDC", "2", "--type", "limit", "--limit-price", "160", "--tif", "IOC"))
    assert body["timeInForce"] == "IOC" and "expiresAt" not in body
    with pytest.raises(ValueError, match="--expires"):
        order_body(args("SOL", "USDC", "2", "--type", "limit", "--limit-price", "160", "--expires", "soon"))


def test_a_sniper_gets_its_trigger_and_safety_from_the_flags():
    body = order_body(
        args("SOL", "PEPE2", "0.5", "--type", "sniper", "--venue", "raydium", "--min-liquidity", "20",
             "--allow-freeze-authority")
    )  # fmt: skip
    assert body["trigger"] == {"event": "pool_created", "venue": "raydium", "minLiquidity": "20"}
    assert body["safety"] == {"requireMintAuthorityRevoked": True, "requireFreezeAuthorityRevoked": False}


def msg(status: str, **metadata) -> dict:
    return {"status": status, "seq": 1, "timestamp": "2026-12-02T12:00:00Z", "metadata": metadata}


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (msg("pending"), "accepted"),
        (msg("pending", attempt=1, maxAttempts=3, error="timeout", stage="routing", retryInS=2.0),
         "retry: attempt 1/3 failed at routing (timeout); next in 2s"),
        (msg("waiting", arm=1, limitPrice="160", bestEffectivePrice="149.5"), "arm 1, limit 160, best now 149.5"),
        (msg("triggered", venue="raydium", effectivePrice="160.2"), "on raydium at 160.2"),
        (msg("routing", chosen="meteora", reason="best output", quotes=[
            {"venue": "raydium", "amountOut": "151.42"}, {"venue": "meteora", "amountOut": "151.85"}],
            unavailable={}),
         "meteora: best output [quotes: raydium 151.42, meteora 151.85]"),
        (msg("building", dexUsed="meteora", minAmountOut="150.7", expectedAmountOut="151.8",
             recentBlockhash="4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"),
         "meteora: min out 150.7 (expected 151.8), blockhash 4vJ9JU1bJJE9…"),
        (msg("submitted", txHash="5Sig"), "tx 5Sig"),
        (msg("confirmed", amountOut="151.65", executedPrice="101.1", slot=7, txHash="5Sig"),
         "151.65 out at 101.1, slot 7, tx 5Sig"),
        (msg("failed", reason="slippage exceeded", failureClass="slippage", attempts=1),
         "[slippage] slippage exceeded (after 1 attempts)"),
        (msg("cancelled", fromStatus="waiting", reason="cancelled by client"), "cancelled by client"),
    ],
)  # fmt: skip
def test_each_status_says_what_matters_in_it(message, line):
    assert describe(message) == line
