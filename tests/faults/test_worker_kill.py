"""kill -9 a worker that holds running jobs and a backlog larger than its concurrency, ten times over, with the
start-rate limit off and on: every order is terminal within the documented bound, and none executes twice.

Each round submits 30 orders to a worker running 10 at a time (DEX latency ×0.5: swaps 1-1.5 s), kills the
worker the moment 10 are under way and 20 still wait in the queue, and starts a new worker at once (as a
supervisor would). The new worker takes the 20 queued jobs; the 10 that died with the old worker stop
heart-beating, are found by SAQ's sweep (a job silent for HEARTBEAT_S, looked for every SWEEP_INTERVAL_S)
and retried, resuming from each order's persisted status. The recovery sweep runs at its defaults (orders
idle for 90 s), so it cannot be what rescues them here.

Bound: HEARTBEAT_S 4 s (+1 s since the last beat) + sweep every 2 s + retry backoff ≤ 1 s at latency ×0.5
+ the retried attempt itself, queued behind the backlog; measured from the kill to the last terminal entry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from fault_servers import PostgresControl
from history import history_problems, read_executions, read_orders, unix_time, wait_terminal
from stack import Stack

pytestmark = pytest.mark.faults

ROUNDS = 10
CONCURRENCY = 10
ORDERS = 30  # 10 running + a backlog of 20 at the kill
BOUND_S = 15.0
RUNNING = ("routing", "building", "submitted")
KILL_ENV = {
    "ORDER_ENGINE_DEX_LATENCY_SCALE": "0.5",
    "ORDER_ENGINE_WORKER_CONCURRENCY": str(CONCURRENCY),
    # The defaults: the recovery sweep must not be what finds the orders of the dead worker.
    "ORDER_ENGINE_RECOVERY_STALE_AFTER_S": "90",
    "ORDER_ENGINE_RECOVERY_INTERVAL_S": "10",
}
KILL_DELAYS_S = (0.0, 0.15, 0.3, 0.6)  # after 10 are under way; swaps land 1-1.5 s after they are sent
BODY = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": 300}


async def _statuses(conn: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM orders WHERE id = ANY($1::uuid[]) GROUP BY status", ids)
    return {r["status"]: r["n"] for r in rows}


async def kill_rounds(stack: Stack, database_url: str, redis_url: str) -> list[dict[str, object]]:
    """ROUNDS kills of the current worker, each with a fresh batch of orders; what each round saw."""
    results: list[dict[str, object]] = []
    conn = await asyncpg.connect(database_url)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            for n in range(ROUNDS):
                answers = await asyncio.gather(*(client.post("/api/orders/execute", json=BODY) for _ in range(ORDERS)))
                assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
                ids = [a.json()["orderId"] for a in answers]
                deadline = time.monotonic() + 10
                while True:
                    seen = await _statuses(conn, ids)
                    if sum(seen.get(s, 0) for s in RUNNING) >= CONCURRENCY or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.01)
                # Kill at a different moment each round: early in routing, or with swaps sent and landing.
                await asyncio.sleep(KILL_DELAYS_S[n % len(KILL_DELAYS_S)])
                seen = await _statuses(conn, ids)
                role = f"worker{n}" if n else "worker0"
                stack.kill(role)
                killed_at = time.time()
                stack.add_worker(f"worker{n + 1}")
                waited, left = await wait_terminal(database_url, set(ids), BOUND_S + 10)
                results.append({"ids": ids, "at_kill": seen, "killed_at": killed_at, "left": left})
    finally:
        await conn.close()
    rows = await read_orders(database_url)
    executions = await read_executions(redis_url, stack.key_prefix)
    for result in results:
        ids = result["ids"]
        assert isinstance(ids, list)
        ends = [unix_time(rows[i]["history"][-1]["timestamp"]) for i in ids if i not in result["left"]]  # type: ignore[operator]
        result["recovered_s"] = round(max(ends) - float(result["killed_at"]), 2)  # type: ignore[arg-type]
        result["problems"] = {i: p for i in ids if (p := history_problems(rows[i], executions.get(i, 0)))}
        result["statuses"] = sorted({rows[i]["status"] for i in ids})
    return results


@pytest.mark.timeout(300)  # ten rounds of ~10 s each, two stacks side by side
async def test_killed_worker_with_a_backlog_recovers_within_the_bound_ten_times(
    private_postgres: tuple[str, PostgresControl], redis_url: str, fault_stack: Callable[..., Stack]
) -> None:
    database_url, _ = private_postgres
    unlimited = fault_stack("kill-nolimit", database_url, redis_url, **KILL_ENV, ORDER_ENGINE_RATE_LIMIT="0")
    # On, and never binding (600 starts per window; the rounds start 300): every attempt takes its turn
    # through the shared moving window in Redis, which is what a killed attempt may have been waiting in.
    limited = fault_stack(
        "kill-limit",
        database_url,
        redis_url,
        **KILL_ENV,
        ORDER_ENGINE_RATE_LIMIT="600",
        ORDER_ENGINE_RATE_LIMIT_WINDOW_S="60",
    )
    off, on = await asyncio.gather(
        kill_rounds(unlimited, database_url, redis_url), kill_rounds(limited, database_url, redis_url)
    )

    report = {
        label: [(r["recovered_s"], r["at_kill"]) for r in rounds]
        for label, rounds in (("limit off", off), ("limit on", on))
    }
    print("kill -9 with a backlog: seconds from the kill to the last terminal entry, statuses at the kill:", report)
    for label, rounds in (("limit off", off), ("limit on", on)):
        for n, r in enumerate(rounds):
            at_kill = r["at_kill"]
            assert isinstance(at_kill, dict)
            where = f"{label}, round {n + 1}: {r}"
            assert sum(at_kill.get(s, 0) for s in RUNNING) == CONCURRENCY, where  # the worker held 10 running jobs
            assert at_kill.get("pending", 0) > CONCURRENCY, where  # ... and a backlog larger than its concurrency
            assert not r["left"], where
            assert r["statuses"] == ["confirmed"], where
            assert not r["problems"], where
            assert float(r["recovered_s"]) <= BOUND_S, where  # type: ignore[arg-type]
