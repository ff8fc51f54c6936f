"""kill -9 the worker mid-flight, start another: every order ends terminal, no swap runs twice."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from conftest import StackFactory
from stack import Stack

pytestmark = pytest.mark.e2e

ORDER_RANK = {"pending": 1, "routing": 2, "building": 3, "submitted": 4, "confirmed": 5, "failed": 5}
# The statuses a market order rests in while a job holds it. Not `routing`: a market order is routed and built in
# one write (StatusChange.then), so a kill while it quotes leaves it `pending` with its job under way.
STAGES = {"building", "submitted"}
RECOVERY_BOUND_S = 15  # documented bound: heartbeat 4 s + sweep every 2 s + retry backoff, plus the retried work


async def orders(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
    return [(await client.get(f"/api/orders/{i}")).json() for i in ids]


async def test_killed_worker_orders_finish_on_a_new_worker_exactly_once(
    start_stack: StackFactory, redis_url: str
) -> None:
    # Latency ×2: quotes ~400 ms and blockhash ~100 ms (pending), send ~100 ms (building),
    # landing 4-6 s (submitted). Orders arrive every 120 ms, so a kill can catch every stage.
    stack: Stack = start_stack(
        "crash",
        ORDER_ENGINE_DEX_LATENCY_SCALE="2",
        ORDER_ENGINE_WORKER_CONCURRENCY="50",
        ORDER_ENGINE_RETRY_BASE_S="0.5",
    )
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": 300}
    ids: list[str] = []
    at_kill: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:

        async def submit_steadily() -> None:
            for _ in range(30):
                ids.append((await client.post("/api/orders/execute", json=body)).json()["orderId"])
                await asyncio.sleep(0.12)

        submitter = asyncio.create_task(submit_steadily())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not submitter.done():
            snapshot = {o["orderId"]: o["status"] for o in await orders(client, list(ids))}
            if STAGES <= set(snapshot.values()) and list(snapshot.values())[-1] == "pending":  # the last quoting
                stack.kill("worker0")
                at_kill = snapshot
                break
            await asyncio.sleep(0.01)
        await submitter
        stack.add_worker("worker1")

        killed_at = time.monotonic()
        while time.monotonic() - killed_at < RECOVERY_BOUND_S:
            final = await orders(client, ids)
            if all(o["status"] in ("confirmed", "failed") for o in final):
                break
            await asyncio.sleep(0.5)
        recovered_in = time.monotonic() - killed_at

    assert STAGES | {"pending"} <= set(at_kill.values()), f"no kill in every stage: {at_kill}"
    assert all(o["status"] in ("confirmed", "failed") for o in final), {o["orderId"]: o["status"] for o in final}
    assert recovered_in < RECOVERY_BOUND_S

    client_redis = aioredis.Redis.from_url(redis_url)
    try:
        executed = await client_redis.hgetall(f"{stack.key_prefix}:chain:executions")
    finally:
        await client_redis.aclose()
    counts = {k.decode(): int(v) for k, v in executed.items()}
    for order in final:
        assert counts.get(order["orderId"], 0) <= 1
        ranks = [ORDER_RANK[h["status"]] for h in order["statusHistory"]]
        assert ranks == sorted(ranks), order["statusHistory"]  # never backwards
        if order["status"] == "confirmed":
            assert order["txHash"] and counts[order["orderId"]] == 1


async def test_sigterm_lets_active_swaps_finish_before_the_worker_exits(
    start_stack: StackFactory, redis_url: str
) -> None:
    stack: Stack = start_stack("graceful", ORDER_ENGINE_DEX_LATENCY_SCALE="0.5")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        body = {"tokenIn": "SOL", "tokenOut": "USDT", "amountIn": "2", "slippageBps": 300}
        ids = [(await client.post("/api/orders/execute", json=body)).json()["orderId"] for _ in range(6)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if {o["status"] for o in await orders(client, ids)} & {"submitted"}:
                break
            await asyncio.sleep(0.05)
        at_term = {o["orderId"]: o["status"] for o in await orders(client, ids)}
        stopped_in = stack.terminate("worker0")
        after_exit = {o["orderId"]: o["status"] for o in await orders(client, ids)}

    in_flight = [i for i, s in at_term.items() if s in ("routing", "building", "submitted")]
    assert in_flight, at_term
    # every swap under way when SIGTERM arrived was finished by the old worker before it exited
    assert all(after_exit[i] in ("confirmed", "failed") for i in in_flight), after_exit
    assert stopped_in < 15  # within SAQ's 10 s grace period, plus process exit
    assert stack.procs["worker0"].returncode == 0
    client_redis = aioredis.Redis.from_url(redis_url)
    try:
        counts = await client_redis.hgetall(f"{stack.key_prefix}:chain:executions")
    finally:
        await client_redis.aclose()
    assert all(int(v) == 1 for v in counts.values())


async def test_sigterm_stops_an_idle_worker_at_once(start_stack: StackFactory) -> None:
    """SAQ alone waits its whole 10 s grace period for its idle loops (blocking dequeue, upkeep sleeps)."""
    stack: Stack = start_stack("idle")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}
        done = (await client.post("/api/orders/execute", json=body)).json()["orderId"]
        deadline = time.monotonic() + 20
        while (await orders(client, [done]))[0]["status"] != "confirmed" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (await orders(client, [done]))[0]["status"] == "confirmed"  # the worker worked, and is now idle
    stopped_in = stack.terminate("worker0")
    assert stack.procs["worker0"].returncode == 0
    assert stopped_in < 3, f"an idle worker took {stopped_in:.1f}s to stop"
