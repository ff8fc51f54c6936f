"""The launches' swap lines in Redis (adapters/swap_line.py): the head swaps, the others wait for it to leave, in
any process; one not in the line never waits, and a waiter gives up after its bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from order_engine.adapters.swap_line import LINE_TTL_S, RedisSwapLine
from order_engine.domain.order import Order
from order_engine.domain.requests import OrderRequest, new_order, validate

T0 = datetime.now(UTC)
LINE = "PEPE9/SOL"


def member(at: datetime, order_id: uuid.UUID | None = None) -> Order:
    request = OrderRequest("SOL", "USDC", Decimal("1"))
    return new_order(validate(request, now=at), order_id or uuid.uuid4(), at)


@pytest.fixture
def prefix(key_prefix: str) -> str:
    return f"{key_prefix}-{uuid.uuid4().hex[:8]}"


async def test_members_swap_in_submission_order_across_two_processes(
    redis: aioredis.Redis, redis_url: str, prefix: str
) -> None:
    other_redis = aioredis.Redis.from_url(redis_url)  # a second process: its own client and its own waiters
    try:
        here, there = RedisSwapLine(redis, prefix=prefix), RedisSwapLine(other_redis, prefix=prefix)
        # Same microsecond for the last two: the id decides (smaller first), as in the watcher's index.
        low, high = sorted([uuid.uuid4(), uuid.uuid4()], key=lambda u: u.int)
        orders = [member(T0), member(T0 + timedelta(milliseconds=1), high), member(T0 + timedelta(milliseconds=1), low)]
        await here.join(LINE, orders)
        assert 0 < await redis.ttl(here.key(LINE)) <= LINE_TTL_S
        swapped: list[uuid.UUID] = []

        async def swap(line: RedisSwapLine, order: Order) -> None:
            assert await line.wait_turn(LINE, order.id, within_s=5)
            swapped.append(order.id)
            await asyncio.sleep(0.01)
            await line.leave(LINE, order.id)

        # Started last first, alternating processes: still first, low, high.
        await asyncio.gather(swap(here, orders[1]), swap(there, orders[2]), swap(here, orders[0]))
        assert swapped == [orders[0].id, low, high]
        assert await redis.zcard(here.key(LINE)) == 0
    finally:
        await other_redis.aclose()


async def test_a_local_leave_wakes_the_next_at_once(redis: aioredis.Redis, prefix: str) -> None:
    line = RedisSwapLine(redis, prefix=prefix)
    first, second = member(T0), member(T0 + timedelta(seconds=1))
    await line.join(LINE, [first, second])
    waiting = asyncio.create_task(line.wait_turn(LINE, second.id, within_s=10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    started = time.monotonic()
    await line.leave(LINE, first.id)
    assert await asyncio.wait_for(waiting, 1) is True
    assert time.monotonic() - started < 0.5


async def test_one_not_in_the_line_never_waits_and_a_waiter_gives_up_after_its_bound(
    redis: aioredis.Redis, prefix: str
) -> None:
    line = RedisSwapLine(redis, prefix=prefix)
    stuck, behind = member(T0), member(T0 + timedelta(seconds=1))
    await line.join(LINE, [stuck, behind])
    assert await line.wait_turn(LINE, uuid.uuid4(), within_s=0.01) is True  # not in it
    assert await line.wait_turn("NOBODY/SOL", behind.id, within_s=0.01) is True  # no such line
    started = time.monotonic()
    assert await line.wait_turn(LINE, behind.id, within_s=0.1) is False  # the head never leaves
    assert 0.1 <= time.monotonic() - started < 1
    await line.leave(LINE, behind.id)
    await line.leave(LINE, behind.id)  # again: nothing to do
    assert [m.decode() for m in await redis.zrange(line.key(LINE), 0, -1)] == [str(stuck.id)]
