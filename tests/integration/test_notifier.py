"""RedisStatusNotifier: a published status reaches subscribers of that order's channel, and only them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import attrs
import pytest
import redis.asyncio as aioredis
import structlog

from order_engine.adapters.notifier import RedisStatusNotifier, order_channel
from order_engine.domain.order import Order
from order_engine.domain.payloads import Built, Submitted
from order_engine.domain.requests import OrderRequest, new_order
from order_engine.domain.status import Step as T

TIMEOUT_S = 5.0


@pytest.fixture
async def notifier(redis_url: str, key_prefix: str) -> AsyncIterator[RedisStatusNotifier]:
    client = aioredis.Redis.from_url(redis_url)  # the publisher's own connection
    yield RedisStatusNotifier(client, key_prefix)
    await client.aclose()


async def subscribed(client: aioredis.Redis, channel: str, *, pattern: bool = False) -> aioredis.client.PubSub:
    pubsub = client.pubsub()
    await (pubsub.psubscribe(channel) if pattern else pubsub.subscribe(channel))
    confirmation = await pubsub.get_message(timeout=TIMEOUT_S)  # the server acknowledged the subscription
    assert confirmation is not None and confirmation["type"] in ("subscribe", "psubscribe")
    return pubsub


async def next_message(pubsub: aioredis.client.PubSub, timeout: float = TIMEOUT_S) -> dict | None:
    return await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)


def submitted_order(amount_in: str = "1.25") -> Order:
    t0 = datetime(2025, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
    order = new_order(OrderRequest("SOL", "USDC", D(amount_in)), uuid.uuid4(), t0)
    order = order.applied(order.change(T.ROUTE, t0 + timedelta(seconds=1), attempt=1, dex_used="raydium"))
    order = order.applied(
        order.change(
            T.BUILD,
            t0 + timedelta(seconds=2),
            attempt=1,
            payload=Built("raydium", D("187.5"), D("187.5"), D("185.6"), 100, True, False, "4vJ9", 2),
        )
    )
    return order.applied(
        order.change(
            T.SUBMIT,
            t0 + timedelta(seconds=3),
            attempt=2,
            payload=Submitted("5Sig"),
            tx_hash="5Sig",
            executed_price=D("150.000000001"),
            amount_out=D("186.927652"),
        )
    )


async def test_published_status_reaches_subscriber_on_another_connection(notifier, redis, key_prefix):
    order = submitted_order()
    other = submitted_order()
    watcher = await subscribed(redis, order_channel(key_prefix, order.id))
    bystander = await subscribed(redis, order_channel(key_prefix, other.id))
    everything = await subscribed(redis, f"{key_prefix}:order:*", pattern=True)
    try:
        await notifier.publish(order)

        message = await next_message(watcher)
        assert message is not None and message["type"] == "message"
        assert message["channel"].decode() == f"{key_prefix}:order:{order.id}"
        payload = json.loads(message["data"])
        assert payload["type"] == "status"
        assert payload["orderId"] == str(order.id)
        assert (payload["seq"], payload["status"]) == (4, "submitted")
        assert payload["timestamp"] == "2025-03-01T09:30:03.123456Z"
        assert payload["metadata"] == {"txHash": "5Sig"}

        full = payload["order"]
        assert full["orderId"] == str(order.id) and full["status"] == "submitted"
        assert (full["amountIn"], full["executedPrice"], full["amountOut"]) == ("1.25", "150.000000001", "186.927652")
        assert (full["dexUsed"], full["txHash"], full["attempts"]) == ("raydium", "5Sig", 2)
        assert [e["status"] for e in full["statusHistory"]] == ["pending", "routing", "building", "submitted"]
        assert full["statusHistory"][2]["metadata"]["minAmountOut"] == "185.6"

        assert await next_message(bystander, timeout=0.5) is None
        seen = await next_message(everything)
        assert seen is not None and seen["channel"].decode() == order_channel(key_prefix, order.id)
        assert await next_message(everything, timeout=0.3) is None  # published once, to one channel
    finally:
        for pubsub in (watcher, bystander, everything):
            await pubsub.aclose()


async def test_each_publish_is_one_message_in_order(notifier, redis, key_prefix):
    order = submitted_order()
    watcher = await subscribed(redis, order_channel(key_prefix, order.id))
    try:
        failed = order.applied(order.change(T.FAIL, order.updated_at, attempt=2, failure_reason="slippage exceeded"))
        await notifier.publish(order)
        await notifier.publish(failed)

        first, second = [json.loads((await next_message(watcher))["data"]) for _ in range(2)]
        assert [(m["seq"], m["status"]) for m in (first, second)] == [(4, "submitted"), (5, "failed")]
        assert second["order"]["failureReason"] == "slippage exceeded"
        assert await next_message(watcher, timeout=0.3) is None
    finally:
        await watcher.aclose()


async def test_small_amounts_are_plain_decimal_strings(notifier, redis, key_prefix):
    order = submitted_order(amount_in="0.000000001")
    watcher = await subscribed(redis, order_channel(key_prefix, order.id))
    try:
        await notifier.publish(order)
        payload = json.loads((await next_message(watcher))["data"])
        assert D(payload["order"]["amountIn"]) == D("0.000000001")  # the value survives either way
        assert payload["order"]["amountIn"] == "0.000000001"
    finally:
        await watcher.aclose()


async def test_concurrent_publishes_share_round_trips_and_each_order_keeps_its_order(notifier, redis, key_prefix):
    """Twenty orders publishing at once: the first goes alone, the rest in one pipeline; every message arrives once,
    and an order's successive statuses arrive in the order it published them."""
    import asyncio

    orders = [submitted_order() for _ in range(20)]
    everything = await subscribed(redis, f"{key_prefix}:order:*", pattern=True)

    async def walk(order: Order) -> None:
        await notifier.publish(order)
        await notifier.publish(order.applied(order.change(T.CONFIRM, order.updated_at, attempt=2)))

    try:
        await asyncio.gather(*(walk(o) for o in orders))
        heard: dict[str, list[int]] = {}
        while (message := await next_message(everything, timeout=0.5)) is not None:
            payload = json.loads(message["data"])
            heard.setdefault(payload["orderId"], []).append(payload["seq"])
    finally:
        await everything.aclose()

    assert heard == {str(o.id): [4, 5] for o in orders}
    assert notifier.round_trips <= 4, notifier.round_trips  # 40 messages: alone, 19, alone, 19 (or fewer)


async def test_states_published_together_arrive_in_order_in_one_round_trip(notifier, redis, key_prefix):
    """A change of two steps (route and build) publishes both states at once: each is its own message, in order."""
    submitted = submitted_order()
    routed, built = (attrs.evolve(submitted, status_history=submitted.status_history[:n]) for n in (2, 3))
    watcher = await subscribed(redis, order_channel(key_prefix, submitted.id))
    try:
        before = notifier.round_trips
        await notifier.publish(routed, built)
        assert await notifier.flush()
        assert notifier.round_trips == before + 1
        seen = [json.loads((await next_message(watcher))["data"]) for _ in range(2)]
        assert [(m["seq"], m["status"]) for m in seen] == [(2, "routing"), (3, "building")]
        assert await next_message(watcher, timeout=0.3) is None
    finally:
        await watcher.aclose()


async def test_a_publish_returns_before_its_round_trip_and_the_sender_keeps_the_order(notifier, redis, key_prefix):
    """An order's next step is not held up by its broadcast: publish queues, one sender sends, in order."""
    order = submitted_order()
    confirmed = order.applied(order.change(T.CONFIRM, order.updated_at, attempt=2))
    watcher = await subscribed(redis, order_channel(key_prefix, order.id))
    try:
        await notifier.publish(order)
        await notifier.publish(confirmed)
        assert notifier.round_trips == 0  # both queued, nothing sent yet: the sender runs when the loop comes round
        assert await notifier.flush()
        assert notifier.round_trips == 1  # published in one turn: one pipeline
        seen = [json.loads((await next_message(watcher))["data"]) for _ in range(2)]
        assert [(m["seq"], m["status"]) for m in seen] == [(4, "submitted"), (5, "confirmed")]
    finally:
        await watcher.aclose()


async def test_a_failed_send_is_logged_with_its_orders_and_never_raised(key_prefix, monkeypatch):
    from structlog.testing import capture_logs

    from order_engine.adapters import notifier as module

    gone = aioredis.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=1)  # nothing listens there
    order = submitted_order()
    try:
        with capture_logs() as logs:
            monkeypatch.setattr(module, "log", structlog.get_logger("order_engine.notifier"))  # fresh: captured
            broken = RedisStatusNotifier(gone, key_prefix)
            await broken.publish(order)  # does not raise
            assert await broken.flush()
    finally:
        await gone.aclose()
    (line,) = [entry for entry in logs if entry["event"] == "status broadcast failed"]
    assert line["orders"] == [{"order_id": str(order.id), "seq": 4}] and line["messages"] == 1
    assert "Connect" in line["error"] or "refused" in line["error"].lower()


async def test_an_outbox_past_its_backlog_drops_the_oldest_messages(redis, redis_url, key_prefix):
    client = aioredis.Redis.from_url(redis_url)
    small = RedisStatusNotifier(client, key_prefix, backlog=3)
    orders = [submitted_order() for _ in range(5)]
    everything = await subscribed(redis, f"{key_prefix}:order:*", pattern=True)
    try:
        for order in orders:  # five publishes in one turn of the loop: the sender has not run
            await small.publish(order)
        assert small.dropped == 2
        assert await small.flush()
        heard = []
        while (message := await next_message(everything, timeout=0.5)) is not None:
            heard.append(json.loads(message["data"])["orderId"])
        assert heard == [str(o.id) for o in orders[2:]]  # the newest three, in order
    finally:
        await everything.aclose()
        await client.aclose()
