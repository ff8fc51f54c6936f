import uuid
from decimal import Decimal as D

import attrs
import pytest
from fakes import T0

from order_engine.domain.errors import InvalidOrder
from order_engine.domain.payloads import Created
from order_engine.domain.requests import DEFAULT_SLIPPAGE_BPS, OrderRequest, new_order, validate
from order_engine.domain.status import OrderStatus, OrderType

GOOD = OrderRequest(token_in="SOL", token_out="USDC", amount_in=D("1.5"), slippage_bps=50)


def bad(**changes) -> OrderRequest:
    return attrs.evolve(GOOD, **changes)


@pytest.mark.parametrize(
    ("request_", "field", "message_part"),
    [
        pytest.param(bad(token_in="DOGE"), "tokenIn", "unknown token 'DOGE'", id="unknown-token-in"),
        pytest.param(bad(token_out="PEPE"), "tokenOut", "unknown token 'PEPE'", id="unknown-token-out"),
        pytest.param(bad(token_out="SOL"), "tokenOut", "must differ", id="same-token"),
        pytest.param(bad(token_in="SOL", token_out="WSOL"), "tokenOut", "must differ", id="sol-vs-wsol"),
        pytest.param(bad(token_in="wsol", token_out="sol"), "tokenOut", "must differ", id="wsol-vs-sol-lower"),
        pytest.param(bad(amount_in=D("0")), "amountIn", "greater than 0", id="zero"),
        pytest.param(bad(amount_in=D("-0")), "amountIn", "greater than 0", id="negative-zero"),
        pytest.param(bad(amount_in=D("-1")), "amountIn", "greater than 0", id="negative"),
        pytest.param(bad(amount_in=D("NaN")), "amountIn", "finite", id="nan"),
        pytest.param(bad(amount_in=D("Infinity")), "amountIn", "finite", id="infinity"),
        pytest.param(bad(amount_in=D("-Infinity")), "amountIn", "finite", id="minus-infinity"),
        pytest.param(bad(amount_in=D("1e16")), "amountIn", "at most", id="too-large"),
        pytest.param(bad(amount_in=D("0.0000000001")), "amountIn", "9 decimal places", id="sol-10-decimals"),
        pytest.param(
            bad(token_in="USDC", token_out="SOL", amount_in=D("1.0000001")),
            "amountIn",
            "6 decimal places",
            id="usdc-7-decimals",
        ),
        pytest.param(
            bad(token_in="BONK", token_out="SOL", amount_in=D("1.000001")),
            "amountIn",
            "5 decimal places",
            id="bonk-6-decimals",
        ),
        pytest.param(bad(slippage_bps=-1), "slippageBps", "0 to 5000", id="slippage-negative"),
        pytest.param(bad(slippage_bps=5001), "slippageBps", "0 to 5000", id="slippage-too-high"),
        pytest.param(bad(slippage_bps=True), "slippageBps", "integer", id="slippage-bool-true"),
        pytest.param(bad(slippage_bps=False), "slippageBps", "integer", id="slippage-bool-false"),
        pytest.param(bad(order_type="limit"), "slippageBps", "not used by limit orders", id="limit-with-slippage"),
        pytest.param(bad(order_type="sniper"), "orderType", "not supported yet", id="sniper"),
        pytest.param(bad(order_type="stop"), "orderType", "must be one of", id="unknown-type"),
        pytest.param(bad(idempotency_key=""), "idempotencyKey", "1 to 255", id="empty-key"),
        pytest.param(bad(idempotency_key="k" * 256), "idempotencyKey", "1 to 255", id="long-key"),
    ],
)
def test_invalid_requests_name_the_field(request_, field, message_part):
    with pytest.raises(InvalidOrder) as info:
        validate(request_)
    assert info.value.field == field
    assert message_part in info.value.message
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(GOOD, id="sol-usdc"),
        pytest.param(bad(amount_in=D("0.000000001")), id="one-lamport"),
        pytest.param(bad(amount_in=D("1.500000000")), id="trailing-zeros-within-decimals"),
        pytest.param(bad(amount_in=D("1e15")), id="max-amount"),
        pytest.param(bad(slippage_bps=0), id="slippage-0"),
        pytest.param(bad(slippage_bps=5000), id="slippage-5000"),
        pytest.param(bad(token_in="WSOL", token_out="BONK"), id="wsol-bonk"),
        pytest.param(bad(idempotency_key="k" * 255), id="key-255"),
    ],
)
def test_valid_requests_pass(request_):
    assert validate(request_).amount_in == request_.amount_in


def test_lowercase_symbols_are_normalised():
    out = validate(bad(token_in="sol", token_out="usdc", order_type="market"))
    assert (out.token_in, out.token_out, out.order_type) == ("SOL", "USDC", "market")


def test_defaults_are_market_and_50_bps():
    req = validate(OrderRequest(token_in="SOL", token_out="USDC", amount_in=D("1")))
    assert req.order_type == OrderType.MARKET.value
    assert req.slippage_bps == DEFAULT_SLIPPAGE_BPS == 50


def test_new_order_is_pending_at_seq_1_with_one_entry():
    order_id = uuid.uuid4()
    order = new_order(validate(bad(token_in="sol", idempotency_key="abc")), order_id, T0)
    assert order.id == order_id
    assert order.status is OrderStatus.PENDING
    assert order.seq == 1
    assert len(order.status_history) == 1
    entry = order.status_history[0]
    assert (entry.status, entry.timestamp, entry.payload) == (OrderStatus.PENDING, T0, Created())
    assert (order.token_in, order.token_out, order.amount_in, order.slippage_bps) == ("SOL", "USDC", D("1.5"), 50)
    assert order.order_type is OrderType.MARKET
    assert order.created_at == order.updated_at == T0
    assert order.attempts == 0
    assert order.idempotency_key == "abc"
    assert (order.dex_used, order.tx_hash, order.amount_out, order.failure_reason) == (None, None, None, None)
