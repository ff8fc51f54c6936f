"""Limit orders on the real stack: API + worker + watcher processes, PostgreSQL and Redis.

A limit rests `waiting`, the market is moved across it, and the watcher triggers it; cancel, GTD expiry,
IOC both ways, and bad input for every new field.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from client import assert_rejected, collect, order_count, seqs, statuses, wait_for_status
from market_moves import move_by_bps
from stack import Stack

pytestmark = pytest.mark.e2e

AMOUNT = "0.5"
FILLED = ["pending", "waiting", "triggered", "routing", "building", "submitted", "confirmed"]


@pytest.fixture(scope="module")
def limits(own_database: str, start_stack: Any) -> Stack:
    # No drift between quote and swap here: a limit met at the trigger is met at the swap (re-arms are unit-tested).
    return start_stack("limits", watchers=1, database_url=own_database, ORDER_ENGINE_DEX_DRIFT_BPS="0")


async def best_effective(client: httpx.AsyncClient, amount: str = AMOUNT) -> D:
    quote = (
        await client.get("/api/market/quote", params={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": amount})
    ).json()
    return max(D(q["effectivePrice"]) for q in quote["quotes"])


def limit_body(price: D | str, **extra: Any) -> dict[str, Any]:
    return {
        "orderType": "limit",
        "tokenIn": "SOL",
        "tokenOut": "USDC",
        "amountIn": AMOUNT,
        "limitPrice": str(price),
    } | extra


async def wait_for(client: httpx.AsyncClient, order_id: str, status: str, timeout_s: float = 15) -> dict[str, Any]:
    return await wait_for_status(client, order_id, status, timeout_s)


async def test_a_limit_rests_until_the_market_crosses_it_then_fills_at_or_above_it(
    limits: Stack, redis_url: str
) -> None:
    async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
        limit = (await best_effective(client) * D("1.02")).quantize(D("0.0001"))
        created = await client.post("/api/orders/execute", json=limit_body(limit))
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "waiting"
        order_id = created.json()["orderId"]
        order = (await client.get(f"/api/orders/{order_id}")).json()
        assert (order["limitPrice"], order["timeInForce"], order["arm"], order["slippageBps"]) == (
            str(limit),
            "GTC",
            1,
            None,
        )
        assert order["statusHistory"][1]["metadata"]["limitPrice"] == str(limit)
        assert D(order["statusHistory"][1]["metadata"]["bestEffectivePrice"]) < limit
        book = (await client.get("/api/market/book", params={"pair": "SOL/USDC"})).json()
        level = next(a for a in book["asks"] if D(a["price"]) == limit)  # the book writes 152.4440 as 152.444
        assert (level["amount"], level["token"], level["orders"]) == (AMOUNT, "SOL", 1)

        watching = asyncio.create_task(collect(f"{limits.ws_base}/api/orders/{order_id}/ws?since=0"))
        await asyncio.sleep(1.0)  # still waiting: nothing crossed it
        assert (await client.get(f"/api/orders/{order_id}")).json()["status"] == "waiting"
        await move_by_bps(redis_url, limits.key_prefix, 300)
        messages, code = await asyncio.wait_for(watching, 30)
        done = (await client.get(f"/api/orders/{order_id}")).json()
    assert code == 1000
    assert statuses(messages) == FILLED and seqs(messages) == list(range(1, 8))
    assert done["status"] == "confirmed"
    assert D(done["amountOut"]) >= D(AMOUNT) * limit  # never below the limit
    triggered = done["statusHistory"][2]["metadata"]
    assert D(triggered["effectivePrice"]) >= limit and triggered["venue"] in {"raydium", "meteora"}
    assert done["statusHistory"][4]["metadata"]["minAmountOut"] == str((D(AMOUNT) * limit).quantize(D("0.000001")))


async def test_cancel_a_resting_order_then_409_once_it_is_done(limits: Stack, own_database: str) -> None:
    async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
        limit = (await best_effective(client) * D("1.5")).quantize(D("0.01"))
        order_id = (await client.post("/api/orders/execute", json=limit_body(limit))).json()["orderId"]
        cancelled = await client.post(f"/api/orders/{order_id}/cancel")
        again = await client.post(f"/api/orders/{order_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert again.status_code == 200 and again.json() == cancelled.json()
        assert [e["status"] for e in cancelled.json()["statusHistory"]] == ["pending", "waiting", "cancelled"]
        messages, code = await collect(f"{limits.ws_base}/api/orders/{order_id}/ws")
        assert code == 1000 and messages[-1]["status"] == "cancelled"

        market = await client.post(
            "/api/orders/execute", json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.1"}
        )
        market_id = market.json()["orderId"]
        await wait_for(client, market_id, "confirmed")
        late = await client.post(f"/api/orders/{market_id}/cancel")
        assert late.status_code == 409 and late.json()["detail"] == "too late: confirmed"
        unknown = await client.post("/api/orders/00000000-0000-4000-8000-000000000000/cancel")
        malformed = await client.post("/api/orders/not-a-uuid/cancel")
    assert unknown.status_code == 404
    assert malformed.status_code == 400 and malformed.json()["field"] == "orderId"


async def test_a_gtd_limit_expires_within_a_second_of_its_time(limits: Stack) -> None:
    async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
        limit = (await best_effective(client) * D("1.5")).quantize(D("0.01"))
        expires = datetime.now(UTC) + timedelta(seconds=2)
        body = limit_body(limit, timeInForce="GTD", expiresAt=expires.isoformat().replace("+00:00", "Z"))
        order_id = (await client.post("/api/orders/execute", json=body)).json()["orderId"]
        order = await wait_for(client, order_id, "expired", timeout_s=10)
    entry = order["statusHistory"][-1]
    lateness = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")) - expires
    assert timedelta(0) <= lateness < timedelta(seconds=1)
    assert entry["metadata"]["limitPrice"] == str(limit) and D(entry["metadata"]["bestEffectivePrice"]) < limit


async def test_ioc_fills_when_met_and_expires_when_not(limits: Stack) -> None:
    async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
        best = await best_effective(client)
        met = await client.post(
            "/api/orders/execute", json=limit_body((best * D("0.99")).quantize(D("0.01")), timeInForce="IOC")
        )
        missed = await client.post(
            "/api/orders/execute", json=limit_body((best * D("1.01")).quantize(D("0.01")), timeInForce="IOC")
        )
        assert (met.status_code, met.json()["status"]) == (201, "triggered")
        assert (missed.status_code, missed.json()["status"]) == (201, "expired")
        filled = await wait_for(client, met.json()["orderId"], "confirmed")
        gone = (await client.get(f"/api/orders/{missed.json()['orderId']}")).json()
    assert [e["status"] for e in filled["statusHistory"]] == [
        "pending",
        "triggered",
        "routing",
        "building",
        "submitted",
        "confirmed",
    ]
    assert [e["status"] for e in gone["statusHistory"]] == ["pending", "expired"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (limit_body("160", slippageBps=50), "slippageBps"),
        ({k: v for k, v in limit_body("160").items() if k != "limitPrice"}, "limitPrice"),
        (limit_body("-1"), "limitPrice"),
        (limit_body("1e3"), "limitPrice"),
        (limit_body("0.0000001"), "limitPrice"),
        (limit_body("160", timeInForce="FOK"), "timeInForce"),
        (limit_body("160", timeInForce="GTD"), "expiresAt"),
        (limit_body("160", timeInForce="GTD", expiresAt="tomorrow"), "expiresAt"),
        (limit_body("160", timeInForce="GTD", expiresAt="2020-01-01T00:00:00Z"), "expiresAt"),
        (limit_body("160", timeInForce="GTD", expiresAt="2099-01-01T00:00:00"), "expiresAt"),
        (limit_body("160", expiresAt="2099-01-01T00:00:00Z"), "expiresAt"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "limitPrice": "160"}, "limitPrice"),
    ],
    ids=[
        "slippage",
        "no-limit",
        "negative",
        "exponent",
        "dust",
        "tif",
        "gtd-no-exp",
        "gtd-text",
        "gtd-past",
        "gtd-naive",
        "gtc-exp",
        "market-limit",
    ],  # fmt: skip
)
async def test_bad_limit_input_is_a_400_naming_the_field_and_writes_nothing(
    limits: Stack, own_database: str, body: dict[str, Any], field: str
) -> None:
    await assert_rejected(limits.base_url, own_database, body, field)


@pytest.mark.timeout(120)
async def test_a_limit_the_market_left_before_routing_re_arms_and_fills_on_the_next_cross(
    limits: Stack, redis_url: str
) -> None:
    """The worker is paused so that the triggered order waits for its job; the market moves back meanwhile.
    The job's fresh quote misses the limit: the order re-arms (arm 2, with the reason), the next cross
    triggers it again under a new job key, and it fills."""
    worker = limits.procs["worker0"]
    async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
        limit = (await best_effective(client) * D("1.015")).quantize(D("0.0001"))
        order_id = (await client.post("/api/orders/execute", json=limit_body(limit))).json()["orderId"]
        worker.send_signal(signal.SIGSTOP)
        try:
            await move_by_bps(redis_url, limits.key_prefix, 300)
            await wait_for(client, order_id, "triggered")
            await move_by_bps(redis_url, limits.key_prefix, -500)
        finally:
            worker.send_signal(signal.SIGCONT)
        rearmed = await wait_for(client, order_id, "waiting")
        assert rearmed["arm"] == 2
        await move_by_bps(redis_url, limits.key_prefix, 600)
        done = await wait_for(client, order_id, "confirmed", timeout_s=30)
    history = done["statusHistory"]
    assert [e["status"] for e in history] == [
        "pending", "waiting", "triggered", "waiting", "triggered", "routing", "building", "submitted", "confirmed"
    ]  # fmt: skip
    again = history[3]["metadata"]
    assert again["arm"] == 2 and again["reason"].startswith("market moved back:")
    assert D(again["bestEffectivePrice"]) < limit <= D(history[4]["metadata"]["effectivePrice"])
    assert D(done["amountOut"]) >= D(AMOUNT) * limit and done["arm"] == 2


@pytest.mark.timeout(60)
async def test_a_market_order_cancelled_while_pending_is_never_executed(limits: Stack, redis_url: str) -> None:
    """Pending behind a paused worker (as behind the start-rate limit): cancel wins, the job finds it
    cancelled and does nothing — no swap on the chain, and the stream ends with `cancelled`."""
    worker = limits.procs["worker0"]
    worker.send_signal(signal.SIGSTOP)
    try:
        async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
            body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.1"}
            order_id = (await client.post("/api/orders/execute", json=body)).json()["orderId"]
            cancelled = await client.post(f"/api/orders/{order_id}/cancel")
    finally:
        worker.send_signal(signal.SIGCONT)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await asyncio.sleep(1.0)  # the job runs now, and must find nothing to do
    redis = aioredis.Redis.from_url(redis_url)
    try:
        executions = await redis.hget(f"{limits.key_prefix}:chain:executions", order_id)
    finally:
        await redis.aclose()
    async with httpx.AsyncClient(base_url=limits.base_url, timeout=10) as client:
        order = (await client.get(f"/api/orders/{order_id}")).json()
    assert [e["status"] for e in order["statusHistory"]] == ["pending", "cancelled"]
    assert executions is None


@pytest.mark.timeout(120)
async def test_a_burst_of_limit_posts_writes_exactly_one_order_each(limits: Stack, own_database: str) -> None:
    """2,000 limit orders POSTed 32 at a time: one row per 201, no more, no fewer (a benchmark run once saw
    PostgreSQL hold more orders than it had been answered for)."""
    before = await order_count(own_database)
    async with httpx.AsyncClient(
        base_url=limits.base_url, timeout=30, limits=httpx.Limits(max_connections=32)
    ) as client:
        limit = (await best_effective(client) * D("1.5")).quantize(D("0.01"))
        gate = asyncio.Semaphore(32)

        async def post() -> str:
            async with gate:
                answer = await client.post("/api/orders/execute", json=limit_body(limit))
                assert answer.status_code == 201, answer.text
                return str(answer.json()["orderId"])

        ids = await asyncio.gather(*(post() for _ in range(2000)))
    assert len(set(ids)) == 2000
    assert await order_count(own_database) == before + 2000
