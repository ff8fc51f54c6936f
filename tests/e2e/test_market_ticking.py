"""The market moves by itself in a real stack: two workers run the market loop, one of them ticks, and when it
is killed the other takes over within the lease's TTL."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis.asyncio as aioredis
from conftest import StackFactory

from order_engine.adapters.market.loop import LEASE_TTL_S

pytestmark = pytest.mark.e2e

TICK_S = 0.2


async def ticks(redis: aioredis.Redis, prefix: str) -> int:
    return int(await redis.get(f"{prefix}:market:tick") or 0)


async def prices(base_url: str) -> dict[tuple[str, str], str]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        body = (await client.get("/api/market/prices")).json()
    return {(p["pair"], p["venue"]): p["price"] for p in body["prices"]}


async def test_one_worker_ticks_the_market_and_another_takes_over_when_it_dies(
    start_stack: StackFactory, redis_url: str
) -> None:
    stack = start_stack(
        "flow", workers=2, ORDER_ENGINE_MARKET_VOLATILITY_BPS="20", ORDER_ENGINE_MARKET_TICK_S=str(TICK_S)
    )
    redis = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 20
        while await ticks(redis, stack.key_prefix) < 3:
            assert time.monotonic() < deadline, "the market never ticked"
            await asyncio.sleep(0.1)
        before, first = await prices(stack.base_url), await ticks(redis, stack.key_prefix)
        await asyncio.sleep(2.0)
        after, second = await prices(stack.base_url), await ticks(redis, stack.key_prefix)
        assert 7 <= second - first <= 12, second - first  # one tick per 0.2 s, from two workers: not two
        assert len(after) == 30 and all(after[k] != before[k] for k in before)  # every pool moved

        logs = {role: (stack.log_dir / f"{stack.name}-{role}.log").read_text() for role in ("worker0", "worker1")}
        (leader,) = [role for role, text in logs.items() if "market leader: this process ticks" in text]
        stack.kill(leader)  # SIGKILL: the lease is never given up, it runs out
        killed_at, at_kill = time.monotonic(), await ticks(redis, stack.key_prefix)
        while await ticks(redis, stack.key_prefix) <= at_kill + 1:
            assert time.monotonic() - killed_at < LEASE_TTL_S + 3, "no worker took the market over"
            await asyncio.sleep(0.05)
        took_over_s = time.monotonic() - killed_at
        survivor = "worker1" if leader == "worker0" else "worker0"
        text = (stack.log_dir / f"{stack.name}-{survivor}.log").read_text()
        assert "market leader: this process ticks" in text, took_over_s
    finally:
        await redis.aclose()
