"""Every kind of status entry survives its JSON shape exactly, and the shape is the one the README documents."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from order_engine.adapters.wire import entry_from_dict, entry_to_dict
from order_engine.domain.order import StatusEntry
from order_engine.domain.payloads import (
    Built,
    Confirmed,
    Created,
    Failed,
    FailureClass,
    Rested,
    Retry,
    Routed,
    Submitted,
    Triggered,
)
from order_engine.domain.quotes import Quote
from order_engine.domain.status import OrderStatus as S

T = datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
QUOTE = Quote("meteora", D("101.537"), D("0.003"), D("1.5"), D("151.848583"))
CASES = [
    (S.PENDING, Created(), {}),
    (S.PENDING, Retry(1, 3, "meteora: timeout", "routing", 2.0),
     {"attempt": 1, "maxAttempts": 3, "error": "meteora: timeout", "stage": "routing", "retryInS": 2.0}),
    (S.ROUTING, Routed((QUOTE,), {"raydium": "down"}, "meteora", "only venue", 201, T),
     {"quotes": [{"venue": "meteora", "price": "101.537", "feeRate": "0.003", "amountIn": "1.5",
                  "amountOut": "151.848583", "estimatedFeeLamports": 5000}],
      "unavailable": {"raydium": "down"}, "chosen": "meteora", "reason": "only venue", "quoteMs": 201,
      "attemptStartedAt": "2025-01-01T12:00:00.123456Z"}),
    (S.BUILDING, Built("meteora", D("101.537"), D("151.848583"), D("150.709718"), 75, True, False, "4vJ9", 48),
     {"dexUsed": "meteora", "quotedPrice": "101.537", "expectedAmountOut": "151.848583",
      "minAmountOut": "150.709718", "slippageBps": 75, "wrapSol": True, "unwrapSol": False,
      "recentBlockhash": "4vJ9", "blockhashMs": 48}),
    (S.WAITING, Rested(1), {"arm": 1}),  # a sniper's: nothing but its arm
    (S.TRIGGERED, Triggered("raydium", D("1960000.5"), T, pool="PEPE2/SOL", liquidity=D("50")),
     {"venue": "raydium", "effectivePrice": "1960000.5", "marketAt": "2025-01-01T12:00:00.123456Z",
      "pool": "PEPE2/SOL", "liquidity": "50"}),
    (S.SUBMITTED, Submitted("5Sig"), {"txHash": "5Sig"}),
    (S.SUBMITTED, Submitted("5Sig", found_on_chain=True), {"txHash": "5Sig", "foundOnChain": True}),
    (S.CONFIRMED, Confirmed("5Sig", D("0.0000001"), D("151.65"), 280000001, 2300),
     {"txHash": "5Sig", "executedPrice": "0.0000001", "amountOut": "151.65", "slot": 280000001, "executionMs": 2300}),
    (S.FAILED, Failed("no SOL/USDC pool", 1, "routing", FailureClass.UNSUPPORTED_PAIR),
     {"reason": "no SOL/USDC pool", "failureClass": "unsupported_pair", "attempts": 1, "stage": "routing"}),
    (S.FAILED, Failed("slippage exceeded", 1, "confirming", FailureClass.SLIPPAGE, amount_out=D("150.1"), min_amount_out=D("150.709718")),
     {"reason": "slippage exceeded", "failureClass": "slippage", "attempts": 1, "stage": "confirming", "amountOut": "150.1",
      "minAmountOut": "150.709718"}),
    (S.FAILED, Failed("amount too small: …", 1, "routing", FailureClass.AMOUNT_TOO_SMALL, min_amount_out=D("0.000000"), expected_amount_out=D("0.000001")),
     {"reason": "amount too small: …", "failureClass": "amount_too_small", "attempts": 1, "stage": "routing", "expectedAmountOut": "0.000001",
      "minAmountOut": "0.000000"}),
]  # fmt: skip


@pytest.mark.parametrize(("status", "payload", "wire"), CASES, ids=[f"{c[0]}-{type(c[1]).__name__}" for c in CASES])
def test_round_trip_and_shape(status, payload, wire) -> None:
    entry = StatusEntry(status, T, payload)
    as_json = entry_to_dict(entry)
    assert as_json == {"status": status.value, "timestamp": "2025-01-01T12:00:00.123456Z", "metadata": wire}
    assert entry_from_dict(as_json) == entry


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"reason": "not accepted: queue unavailable", "attempts": 0, "stage": "queueing"}, FailureClass.NOT_QUEUED),
        ({"reason": "slippage exceeded", "attempts": 1, "stage": "confirming"}, FailureClass.SLIPPAGE),
        ({"reason": "amount too small", "attempts": 1, "stage": "routing", "expectedAmountOut": "0"},
         FailureClass.AMOUNT_TOO_SMALL),
        ({"reason": "no SOL/USDC pool", "attempts": 1, "stage": "routing"}, FailureClass.ERROR),
        ({"reason": "x", "failureClass": "no-such-class", "attempts": 1, "stage": "routing"}, FailureClass.ERROR),
    ],
)  # fmt: skip
def test_a_failed_entry_written_before_failure_classes_gets_one_from_its_fields(metadata, expected) -> None:
    raw = {"status": "failed", "timestamp": "2025-01-01T12:00:00.123456Z", "metadata": metadata}
    payload = entry_from_dict(raw).payload
    assert isinstance(payload, Failed) and payload.failure_class is expected
