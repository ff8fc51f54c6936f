"""One order, five orders, and the WebSocket submit path, through real API and worker processes."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from client import LIFECYCLE, ORDER, collect, seqs, statuses
from stack import Stack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.e2e


async def submit(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/api/orders/execute", json=body or ORDER)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def executions(redis_url: str, stack: Stack, order_id: str) -> int:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return int(await client.hget(f"{stack.key_prefix}:chain:executions", order_id) or 0)
    finally:
        await client.aclose()


async def test_one_order_streams_every_status_and_get_agrees(stack: Stack, redis_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        accepted = await submit(client)
        order_id = accepted["orderId"]
        assert accepted["status"] == "pending" and accepted["orderType"] == "market"
        assert accepted["wsUrl"] == f"/api/orders/{order_id}/ws"

        messages, code = await collect(f"{stack.ws_base}{accepted['wsUrl']}?since=0")
        order = (await client.get(f"/api/orders/{order_id}")).json()

    assert code == 1000
    assert statuses(messages) == LIFECYCLE
    assert seqs(messages) == [1, 2, 3, 4, 5]
    assert {m["type"] for m in messages} == {"status"} and {m["orderId"] for m in messages} == {order_id}

    routing, building, submitted, confirmed = (m["metadata"] for m in messages[1:])
    venues = {q["venue"]: q for q in routing["quotes"]}
    assert set(venues) == {"raydium", "meteora"}
    best = max(venues.values(), key=lambda q: Decimal(q["amountOut"]))
    assert routing["chosen"] == best["venue"] == building["dexUsed"] == order["dexUsed"]
    expected = Decimal(building["expectedAmountOut"])
    assert Decimal(building["minAmountOut"]) == (expected * Decimal("0.995")).quantize(
        Decimal("0.000001"), "ROUND_DOWN"
    )
    assert building["wrapSol"] is True and building["unwrapSol"] is False
    assert submitted["txHash"] == confirmed["txHash"] == order["txHash"]
    assert 87 <= len(order["txHash"]) <= 88

    assert order["status"] == "confirmed"
    assert [h["status"] for h in order["statusHistory"]] == LIFECYCLE
    assert order["amountOut"] == confirmed["amountOut"] and order["executedPrice"] == confirmed["executedPrice"]
    assert Decimal(order["amountOut"]) >= Decimal(building["minAmountOut"])
    assert order["amountIn"] == "1.5" and order["attempts"] == 1 and order["failureReason"] is None
    assert await executions(redis_url, stack, order_id) == 1


async def test_snapshot_first_then_gap_free_updates(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        accepted = await submit(client)
    messages, code = await collect(f"{stack.ws_base}{accepted['wsUrl']}")
    assert code == 1000
    snapshot, *updates = messages
    assert snapshot["type"] == "snapshot" and snapshot["order"]["orderId"] == accepted["orderId"]
    assert seqs(updates) == list(range(snapshot["seq"] + 1, 6))
    assert [snapshot["status"], *statuses(updates)] == LIFECYCLE[snapshot["seq"] - 1 :]


async def test_five_orders_at_once_each_confirmed_on_its_best_venue(stack: Stack, redis_url: str) -> None:
    bodies = [
        {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"},
        {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "250.5"},
        {"tokenIn": "SOL", "tokenOut": "USDT", "amountIn": 0.75},
        {"tokenIn": "BONK", "tokenOut": "USDC", "amountIn": "1000000"},
        {"tokenIn": "JUP", "tokenOut": "SOL", "amountIn": "42.123456", "slippageBps": 100},
    ]
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        accepted = await asyncio.gather(*(submit(client, b) for b in bodies))
        streams = await asyncio.gather(*(collect(f"{stack.ws_base}{a['wsUrl']}?since=0") for a in accepted))
        orders = [(await client.get(f"/api/orders/{a['orderId']}")).json() for a in accepted]

    assert len({a["orderId"] for a in accepted}) == 5
    for body, (messages, code), order in zip(bodies, streams, orders, strict=True):
        assert code == 1000 and statuses(messages) == LIFECYCLE
        assert order["tokenIn"] == body["tokenIn"] and order["amountIn"] == str(body["amountIn"])
        quotes = messages[1]["metadata"]["quotes"]
        assert order["dexUsed"] == max(quotes, key=lambda q: Decimal(q["amountOut"]))["venue"]
        assert await executions(redis_url, stack, order["orderId"]) == 1


async def test_websocket_submit_path_accepts_then_streams(stack: Stack) -> None:
    messages: list[dict[str, Any]] = []
    async with connect(f"{stack.ws_base}/api/orders/execute") as ws:
        await ws.send(json.dumps({"tokenIn": "USDC", "tokenOut": "JUP", "amountIn": "10"}))
        try:
            while True:
                messages.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
    accepted, snapshot, *updates = messages
    assert accepted["type"] == "accepted" and accepted["status"] == "pending"
    assert snapshot["type"] == "snapshot" and snapshot["orderId"] == accepted["orderId"]
    assert [snapshot["seq"], *seqs(updates)] == list(range(snapshot["seq"], 6))
    assert updates[-1]["status"] == "confirmed" and code == 1000


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("not json", None),
        (json.dumps({"tokenIn": "SOL", "tokenOut": "SOL", "amountIn": "1"}), "tokenOut"),
        (json.dumps({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": 1, "extra": True}), "extra"),
        (json.dumps({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "orderType": "sniper"}), "trigger"),
        (json.dumps({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1_000"}), "amountIn"),
        ('{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": 1e2}', "amountIn"),
        ('{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "tokenIn": "BONK"}', "tokenIn"),
        (
            '{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "idempotencyKey": "a", "idempotencyKey": "b"}',
            "idempotencyKey",
        ),
    ],
)
async def test_websocket_submit_rejects_bad_orders(stack: Stack, message: str, field: str | None) -> None:
    async with connect(f"{stack.ws_base}/api/orders/execute") as ws:
        await ws.send(message)
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert error["type"] == "error" and error["detail"]
    assert error.get("field") == field
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


@pytest.mark.parametrize(
    ("path", "code"),
    [("/api/orders/00000000-0000-4000-8000-000000000000/ws", 4404), ("/api/orders/not-a-uuid/ws", 4400)],
)
async def test_websocket_unknown_or_malformed_order_is_closed_with_a_code(stack: Stack, path: str, code: int) -> None:
    messages, close_code = await collect(f"{stack.ws_base}{path}", timeout_s=10)
    assert messages == [] and close_code == code


async def test_saq_ui_lists_the_queue_and_health_reports_dependencies(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, follow_redirects=True) as client:
        page = await client.get("/saq")  # the link the README prints: 308 to /saq/, the UI's own address
        queues = (await client.get("/saq/api/queues")).json()["queues"]
        health = await client.get("/health")
    assert page.status_code == 200 and "<html" in page.text.lower() and page.url.path == "/saq/"
    assert stack.queue_name in [q["name"] for q in queues]
    assert health.status_code == 200 and health.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_list_pages_newest_first_without_repeats(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        ids = [(await submit(client))["orderId"] for _ in range(3)]
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/orders", params=params)).json()
            seen += [o["orderId"] for o in page["orders"]]
            cursor = page["nextCursor"]
            if not cursor:
                break
        bad = await client.get("/api/orders", params={"cursor": "garbage!"})
    assert len(seen) == len(set(seen))
    assert seen[:3] == ids[::-1]
    assert bad.status_code == 400
