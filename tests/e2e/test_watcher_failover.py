"""The watcher's failover: two run, one is active under a Redis lease. `kill -9` of the active one, and the
other takes over within 5 s and triggers what the market crossed; with every watcher down, a crossed limit
waits, and the first watcher started triggers it at takeover (it rebuilds from PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from market_moves import move_by_bps
from stack import Stack
from test_limit_lifecycle import best_effective, limit_body, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def watched(own_database: str, start_stack: Any) -> Stack:
    return start_stack("failover", watchers=2, database_url=own_database, ORDER_ENGINE_DEX_DRIFT_BPS="0")


def tokens(stack: Stack) -> dict[str, str]:
    """watcher role -> its lease token, from the "watcher started" line each one logs."""
    found = {}
    for role in stack.procs:
        if not role.startswith("watcher"):
            continue
        for line in (stack.log_dir / f"{stack.name}-{role}.log").read_text().splitlines():
            if '"watcher started"' in line:
                found[role] = json.loads(line)["token"]
    return found


async def active_watcher(stack: Stack, redis_url: str, timeout_s: float = 10) -> str:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            holder = await redis.get(f"{stack.key_prefix}:watcher:lease")
            by_token = {token: role for role, token in tokens(stack).items() if stack.procs[role].poll() is None}
            if holder is not None and holder.decode() in by_token:
                return by_token[holder.decode()]
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()
    raise AssertionError("no live watcher holds the lease")


async def rest_above(client: httpx.AsyncClient, bps: int) -> tuple[str, D]:
    limit = (await best_effective(client) * (1 + D(bps) / 10_000)).quantize(D("0.0001"))
    created = await client.post("/api/orders/execute", json=limit_body(limit))
    assert created.status_code == 201 and created.json()["status"] == "waiting", created.text
    return created.json()["orderId"], limit


@pytest.mark.timeout(120)
async def test_kill_9_of_the_active_watcher_the_other_takes_over_within_5_s(watched: Stack, redis_url: str) -> None:
    async with httpx.AsyncClient(base_url=watched.base_url, timeout=10) as client:
        order_id, _ = await rest_above(client, 150)
        first = await active_watcher(watched, redis_url)
        watched.kill(first)
        killed_at = datetime.now(UTC)
        await move_by_bps(redis_url, watched.key_prefix, 300)  # crossed while no watcher is active
        order = await wait_for(client, order_id, "confirmed", timeout_s=20)
        second = await active_watcher(watched, redis_url)
    triggered = next(e for e in order["statusHistory"] if e["status"] == "triggered")
    took = (datetime.fromisoformat(triggered["timestamp"].replace("Z", "+00:00")) - killed_at).total_seconds()
    assert second != first
    assert took < 5.0, f"the standby triggered the crossed limit {took:.1f}s after the kill"


@pytest.mark.timeout(120)
async def test_a_limit_crossed_while_no_watcher_runs_triggers_when_one_starts(watched: Stack, redis_url: str) -> None:
    for role in [r for r in watched.procs if r.startswith("watcher")]:
        if watched.procs[role].poll() is None:
            watched.kill(role)
    async with httpx.AsyncClient(base_url=watched.base_url, timeout=10) as client:
        order_id, _ = await rest_above(client, 150)
        await move_by_bps(redis_url, watched.key_prefix, 300)
        await asyncio.sleep(2)
        assert (await client.get(f"/api/orders/{order_id}")).json()["status"] == "waiting"
        watched.add_watcher("watcher-late")
        order = await wait_for(client, order_id, "confirmed", timeout_s=30)
    assert [e["status"] for e in order["statusHistory"]][:3] == ["pending", "waiting", "triggered"]
