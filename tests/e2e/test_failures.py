"""Injected DEX failures and slippage, end to end: the reason is persisted and broadcast."""

from __future__ import annotations

import httpx
import pytest
from client import ORDER, collect, seqs, statuses
from conftest import StackFactory
from stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def failing_stack(start_stack: StackFactory) -> Stack:
    """Every DEX call fails transiently."""
    return start_stack("failing", ORDER_ENGINE_DEX_FAILURE_RATE="1.0")


@pytest.fixture(scope="module")
def falling_market(start_stack: StackFactory) -> Stack:
    """The price always drops 3 % between quote and execution: beyond any 0.5 % slippage floor."""
    return start_stack("falling", ORDER_ENGINE_DEX_DRIFT_MEAN_BPS="-300", ORDER_ENGINE_DEX_DRIFT_BPS="0")


async def test_transient_failures_fail_the_order_after_exactly_three_attempts(failing_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=failing_stack.base_url) as client:
        order_id = (await client.post("/api/orders/execute", json=ORDER)).json()["orderId"]
        messages, code = await collect(f"{failing_stack.ws_base}/api/orders/{order_id}/ws?since=0")
        order = (await client.get(f"/api/orders/{order_id}")).json()
        job = (await client.get(f"/saq/api/queues/{failing_stack.queue_name}/jobs/{order_id}")).json()["job"]

    assert code == 1000
    assert statuses(messages) == ["pending", "pending", "pending", "failed"]
    assert seqs(messages) == [1, 2, 3, 4]
    retries = [m["metadata"] for m in messages[1:3]]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert [r["retryInS"] for r in retries] == pytest.approx([0.04, 0.08])  # 2 s, 4 s scaled by 0.02
    assert all(r["stage"] == "routing" and "no venue returned a quote" in r["error"] for r in retries)

    failed = messages[-1]["metadata"]
    assert failed["attempts"] == 3 and failed["stage"] == "routing"
    assert failed["reason"].startswith("no venue returned a quote")
    assert order["status"] == "failed" and order["attempts"] == 3
    assert order["failureReason"] == failed["reason"]
    assert order["txHash"] is None and order["dexUsed"] is None
    assert job["status"] == "failed" and job["attempts"] == 3


async def test_price_move_beyond_slippage_fails_at_once_without_retry(falling_market: Stack) -> None:
    async with httpx.AsyncClient(base_url=falling_market.base_url) as client:
        order_id = (await client.post("/api/orders/execute", json=ORDER)).json()["orderId"]
        messages, code = await collect(f"{falling_market.ws_base}/api/orders/{order_id}/ws?since=0")
        order = (await client.get(f"/api/orders/{order_id}")).json()

    assert code == 1000
    assert statuses(messages) == ["pending", "routing", "building", "submitted", "failed"]
    failed = messages[-1]["metadata"]
    assert failed["reason"] == "slippage exceeded" and failed["attempts"] == 1 and failed["stage"] == "confirming"
    assert order["failureReason"] == "slippage exceeded" and order["attempts"] == 1
    assert order["txHash"] == messages[3]["metadata"]["txHash"]  # the swap landed and reverted on chain
    assert order["amountOut"] is None


async def test_dust_fails_at_routing_instead_of_confirming_nothing(stack: Stack) -> None:
    """1 lamport of SOL is worth 0.00000015 USDC: rounded to USDC's unit, nothing. It must not confirm."""
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.000000001"}
        order_id = (await client.post("/api/orders/execute", json=body)).json()["orderId"]
        messages, code = await collect(f"{stack.ws_base}/api/orders/{order_id}/ws?since=0")
        order = (await client.get(f"/api/orders/{order_id}")).json()

    assert code == 1000
    assert statuses(messages) == ["pending", "failed"]
    failed = messages[-1]["metadata"]
    assert failed["stage"] == "routing" and failed["attempts"] == 1
    assert failed["reason"].startswith("amount too small: ") and failed["minAmountOut"] == "0.000000"
    assert order["status"] == "failed" and order["failureReason"] == failed["reason"]
    assert order["txHash"] is None and order["amountOut"] is None
