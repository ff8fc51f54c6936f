"""Idempotency-Key through real API and worker processes: one order per key, the same answer every time."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from client import LIFECYCLE, ORDER, collect, order_count, statuses
from stack import Stack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.e2e


def fresh_key() -> str:
    return f"e2e-{uuid.uuid4()}"


async def post(client: httpx.AsyncClient, body: Any, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await client.post("/api/orders/execute", json=body, headers=headers)


async def test_fifty_concurrent_posts_with_one_key_make_one_order(stack: Stack, migrated_database: str) -> None:
    key = fresh_key()
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=stack.base_url, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(*(post(client, ORDER, key) for _ in range(50)))

        assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses if r.status_code != 201]
        bodies = {r.content for r in responses}
        assert len(bodies) == 1, bodies
        body = responses[0].json()
        assert body["status"] == "pending" and body["orderType"] == "market"
        assert {r.headers["location"] for r in responses} == {f"/api/orders/{body['orderId']}"}
        replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
        assert len(replayed) == 49  # every answer but the first is a replay
        assert await order_count(migrated_database, key) == 1

        messages, code = await collect(f"{stack.ws_base}{body['wsUrl']}?since=0")
        assert code == 1000 and statuses(messages) == LIFECYCLE  # one order, run once

        late = await post(client, {**ORDER, "amountIn": "1.50", "tokenIn": "sol"}, key)  # same meaning
        assert late.status_code == 201 and late.content == responses[0].content  # still the first answer
        assert late.headers["idempotent-replayed"] == "true"
    assert await order_count(migrated_database, key) == 1


async def test_same_key_with_another_body_is_a_422_and_writes_nothing(stack: Stack, migrated_database: str) -> None:
    key = fresh_key()
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        first = await post(client, ORDER, key)
        assert first.status_code == 201, first.text
        before = await order_count(migrated_database)

        conflict = await post(client, {**ORDER, "amountIn": "2"}, key)

    assert conflict.status_code == 422, conflict.text
    problem = conflict.json()
    assert problem["status_code"] == 422 and problem["field"] == "Idempotency-Key"
    assert "Idempotency-Key" in problem["detail"] and "different" in problem["detail"]
    assert await order_count(migrated_database) == before
    assert await order_count(migrated_database, key) == 1


@pytest.mark.parametrize("key", ["k" * 256, ""], ids=["256 characters", "empty"])
async def test_a_key_outside_1_to_255_characters_is_a_400(stack: Stack, migrated_database: str, key: str) -> None:
    before = await order_count(migrated_database)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        response = await post(client, ORDER, key)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == "Idempotency-Key" and "Idempotency-Key" in problem["detail"]
    assert await order_count(migrated_database) == before


async def test_a_255_character_key_works(stack: Stack, migrated_database: str) -> None:
    key = uuid.uuid4().hex + "k" * 223
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        first, second = await post(client, ORDER, key), await post(client, ORDER, key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert await order_count(migrated_database, key) == 1


async def test_without_a_key_two_identical_posts_are_two_orders(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        a, b = await post(client, ORDER, None), await post(client, ORDER, None)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["orderId"] != b.json()["orderId"]
    assert "idempotent-replayed" not in a.headers and "idempotent-replayed" not in b.headers


async def test_the_http_body_does_not_take_a_key(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        response = await post(client, {**ORDER, "idempotencyKey": fresh_key()}, None)
    assert response.status_code == 400 and response.json()["field"] == "idempotencyKey"


async def ws_submit(stack: Stack, message: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], int | None]:
    """Submit over the WebSocket; the first message, the rest of the stream and the close code."""
    rest: list[dict[str, Any]] = []
    async with connect(f"{stack.ws_base}/api/orders/execute", open_timeout=10, close_timeout=5) as ws:
        await ws.send(json.dumps(message))
        first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        try:
            while True:
                rest.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        except ConnectionClosed as closed:
            return first, rest, closed.rcvd.code if closed.rcvd else None


async def test_websocket_submit_with_the_same_key_twice_is_one_order(stack: Stack, migrated_database: str) -> None:
    key = fresh_key()
    first, stream, code = await ws_submit(stack, {**ORDER, "idempotencyKey": key})
    assert first["type"] == "accepted" and first["status"] == "pending"
    assert code == 1000 and stream[-1]["status"] == "confirmed"

    again, replay_stream, replay_code = await ws_submit(stack, {**ORDER, "idempotencyKey": key})
    assert again["type"] == "accepted" and again["orderId"] == first["orderId"]
    # the order is done: the replay gets its snapshot and the normal close
    assert replay_code == 1000 and replay_stream[0]["type"] == "snapshot"
    assert replay_stream[-1]["status"] == "confirmed" and replay_stream[-1]["orderId"] == first["orderId"]
    assert await order_count(migrated_database, key) == 1

    async with httpx.AsyncClient(base_url=stack.base_url) as client:  # one key space for HTTP and WebSocket
        over_http = await post(client, ORDER, key)
    assert over_http.status_code == 201 and over_http.json()["orderId"] == first["orderId"]

    conflict, _, conflict_code = await ws_submit(stack, {**ORDER, "amountIn": "3", "idempotencyKey": key})
    assert conflict["type"] == "error" and conflict["field"] == "idempotencyKey" and conflict_code == 4400
    too_long, _, too_long_code = await ws_submit(stack, {**ORDER, "idempotencyKey": "k" * 256})
    assert too_long["type"] == "error" and too_long["field"] == "idempotencyKey" and too_long_code == 4400
    assert await order_count(migrated_database, key) == 1
