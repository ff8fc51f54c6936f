"""Small helpers for talking to a running stack over real HTTP and WebSocket."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "orderType": "market", "slippageBps": 50}
LIFECYCLE = ["pending", "routing", "building", "submitted", "confirmed"]


async def collect(url: str, timeout_s: float = 30) -> tuple[list[dict[str, Any]], int | None]:
    """Every message until the server closes, and the close code."""
    messages: list[dict[str, Any]] = []
    async with connect(url, open_timeout=10, close_timeout=5) as ws:
        try:
            while True:
                raw = await _recv(ws, timeout_s)
                messages.append(json.loads(raw))
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None


async def _recv(ws: Any, timeout_s: float) -> str:
    import asyncio

    return str(await asyncio.wait_for(ws.recv(), timeout_s))


def statuses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["status"] for m in messages]


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


async def order_count(database_url: str, idempotency_key: str | None = None) -> int:
    """Rows in `orders`, or only those holding one idempotency key: what a request wrote, read from PostgreSQL."""
    conn = await asyncpg.connect(database_url)
    try:
        if idempotency_key is None:
            return int(await conn.fetchval("select count(*) from orders"))
        return int(await conn.fetchval("select count(*) from orders where idempotency_key = $1", idempotency_key))
    finally:
        await conn.close()


async def wait_for_status(client: Any, order_id: str, status: str, timeout_s: float = 15) -> dict[str, Any]:
    """GET the order until it is in `status` (an httpx.AsyncClient on the stack); the order then."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    order: dict[str, Any] = {}
    while time.monotonic() < deadline:
        order = (await client.get(f"/api/orders/{order_id}")).json()
        if order["status"] == status:
            return order
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} still {order.get('status')} after {timeout_s}s, not {status}")


async def assert_rejected(base_url: str, database_url: str, body: Any, field: str) -> None:
    """POST `body`: a 400 whose `field` names the problem, and no order written."""
    import httpx

    before = await order_count(database_url)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        answer = await client.post("/api/orders/execute", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field, answer.json()
    assert await order_count(database_url) == before
