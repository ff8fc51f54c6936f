"""Redis crashes (SIGKILL) under load and comes back on the same port: no order lost, none executed twice.

Redis holds the queue, the pub/sub channels and the mock chain (with AOF, fsync always, so what it
acknowledged survives the crash). While it is down the API refuses new orders with a 503 and closes the
row it wrote as "not accepted: queue unavailable" — never a 500, never a hang. Attempts that broke on the
outage leave their SAQ job active; once Redis is back, SAQ's sweep finds the job's heartbeat stale and
retries it, and the attempt resumes the order from its persisted status. Every order answered 201 ends
confirmed or failed, with at most one swap on chain; every refused request, sent again with its
Idempotency-Key, gets a new order (closing the refused one released the key). WebSocket clients that
follow orders through the crash see each order's whole history, seq 1, 2, 3 … with no gap, then 1000;
and after the restart statuses reach WebSocket clients live again (pub/sub), not only through the
sockets' 5 s PostgreSQL re-read.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fault_servers import PostgresControl, RedisServer
from history import (
    Load,
    check,
    read_executions,
    read_orders,
    run_outage,
    settled_after,
    unix_time,
    wait_terminal,
)
from stack import Stack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.faults

CLIENT_TIMEOUT_S = 10.0  # an answer slower than this is a hang
# From the crash until every order accepted before it is terminal. An attempt that broke on the outage leaves
# its job active in Redis; SAQ's sweep (every 2 s) takes it as dead once its heartbeat is 4 s old — at once after
# a 4 s outage — aborts it without waiting and retries it after 0.2-0.4 s: 4 s + 2 s + ~1 s for the retried
# attempt = 7 s, plus slack for a loaded machine. Measured 5.7-7.8 s over 6 runs (0.2 s when the crash happens
# to break no attempt).
RECOVERY_BOUND_S = 15.0
BURST = 40  # orders sent at once just before the crash: twice the worker's concurrency, so half of them wait
LIVE_LAG_S = 1.5  # after the restart, a status reaches its WebSocket this soon (a dead pub/sub stream: up to 5 s)


async def follow(url: str, subscribed: asyncio.Event | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Every message of one order's WebSocket until the server closes it (each with `receivedAt`, Unix
    time), and the close code. `subscribed` is set at the first message (the server subscribes first)."""
    messages: list[dict[str, Any]] = []
    try:
        async with connect(url, open_timeout=10, close_timeout=5) as socket:
            try:
                while True:
                    message = json.loads(await asyncio.wait_for(socket.recv(), RECOVERY_BOUND_S + 10))
                    messages.append({**message, "receivedAt": time.time()})
                    if subscribed is not None:
                        subscribed.set()
            except ConnectionClosed as closed:
                return messages, closed.rcvd.code if closed.rcvd else None
    finally:
        if subscribed is not None:
            subscribed.set()  # also on failure: nobody waits for it forever


def lag(message: dict[str, Any]) -> float:
    return float(message["receivedAt"]) - unix_time(message["timestamp"])


async def test_redis_crash_under_load_loses_no_order_and_executes_none_twice(
    private_redis: RedisServer, private_postgres: tuple[str, PostgresControl], fault_stack: Callable[..., Stack]
) -> None:
    database_url, _ = private_postgres  # up throughout; private so that every row in it is this test's
    stack = fault_stack("redis-outage", database_url, private_redis.url)
    watchers: dict[str, asyncio.Task[tuple[list[dict[str, Any]], int | None]]] = {}

    subscribed: list[asyncio.Event] = []

    def watch(order_id: str) -> None:
        subscribed.append(asyncio.Event())
        url = f"{stack.ws_base}/api/orders/{order_id}/ws?since=0"
        watchers[order_id] = asyncio.create_task(follow(url, subscribed[-1]))

    worker = stack.procs["worker0"].pid

    async def burst(_: set[str]) -> None:
        """BURST orders at once, each followed by a WebSocket client, while the worker is paused (SIGSTOP):
        the crash finds every one of them unfinished, so their sockets (and the API's pub/sub subscription)
        live through the outage. Left running, the worker could finish the whole burst before its sockets
        had all subscribed on a slow run (seen once: no socket followed an order through the outage)."""
        os.kill(worker, signal.SIGSTOP)
        try:
            load.on_accepted = watch
            await asyncio.gather(*(load.post(f"burst-{n}-{uuid.uuid4().hex[:8]}") for n in range(BURST)))
            load.on_accepted = None
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in subscribed)), 5)
        except BaseException:
            os.kill(worker, signal.SIGCONT)
            raise

    def crash() -> float:
        """Kill Redis, then let the paused worker go on: its attempts under way meet the outage."""
        took = private_redis.kill()
        os.kill(worker, signal.SIGCONT)
        return took

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=CLIENT_TIMEOUT_S) as client:
        load = Load(client)
        outage = await run_outage(
            load,
            database_url,
            crash,
            private_redis.start,
            warmup_s=3,
            outage_s=4,
            after_s=3,
            before_stop=burst,
        )
        retried = await load.retry_refused()
        # New orders after the restart, one at a time: their statuses must come live over pub/sub again.
        live = []
        for _ in range(3):
            op = await load.post(f"live-{uuid.uuid4().hex[:8]}")
            assert op.order_id, op
            live.append(await follow(f"{stack.ws_base}/api/orders/{op.order_id}/ws?since=0"))
        _, left = await wait_terminal(
            database_url, set(load.acked()), max(1.0, RECOVERY_BOUND_S - (load.now() - outage.down))
        )

    streams = dict(zip(watchers, await asyncio.gather(*watchers.values()), strict=True))
    rows = await read_orders(database_url)
    executions = await read_executions(private_redis.url, stack.key_prefix)
    verdict = check(load, rows, executions)
    recovered_s = settled_after(rows, set(load.acked()), load.wall["down"])
    through = [i for i in streams if unix_time(rows[i]["history"][-1]["timestamp"]) > load.wall["up"]]
    live_lag_s = max(lag(m) for messages, _ in live for m in messages)
    report = {
        **load.summary(),
        "in_flight_at_crash": len(outage.in_flight),
        "redis_down_s": round(outage.up - outage.down, 2),
        "redis_restart_s": round(outage.start_s, 2),
        "recovered_after_crash_s": round(recovered_s, 1),
        "websockets_through_outage": f"{len(through)}/{len(streams)}",
        "live_lag_after_restart_s": round(live_lag_s, 3),
        "verdict": verdict,
        "logs": str(stack.log_dir),
    }
    print(report)

    first = [op for op in load.ops if not op.retry]
    assert outage.in_flight, "the crash caught no order in flight"
    assert all(op.status in (201, 503) for op in first), report  # never a 500, never a hang (timeout: None)
    assert 503 in {op.status for op in load.between(outage.down, outage.up)}, f"the outage refused nothing: {report}"
    assert all("queue (Redis) unavailable" in op.detail for op in first if op.status == 503), report
    late = [op for op in first if op.status == 503 and op.sent > outage.up + 1.0]
    assert not late, f"refused more than 1 s after Redis was back: {late[:3]}"
    assert all(op.status == 201 and not op.replayed for op in retried), [op for op in retried if op.status != 201]
    assert not left, f"orders still open {RECOVERY_BOUND_S} s after the crash: {sorted(left)[:5]} ({report})"
    assert recovered_s < RECOVERY_BOUND_S, report
    assert verdict, "\n".join(verdict.problems[:20])
    assert verdict.not_accepted == sum(op.status == 503 for op in first)

    assert through, f"no WebSocket followed an order through the outage: {report}"
    for order_id, (messages, code) in streams.items():  # each socket saw its order's whole history, in order
        history = [entry["status"] for entry in rows[order_id]["history"]]
        assert code == 1000, (order_id, code, messages)
        assert [m["seq"] for m in messages] == list(range(1, len(history) + 1)), (order_id, messages)
        assert [m["status"] for m in messages] == history, (order_id, messages)
    assert all(code == 1000 and messages[-1]["status"] == "confirmed" for messages, code in live), live
    lags = [(m["orderId"][:8], m["seq"], m["status"], round(lag(m), 3)) for messages, _ in live for m in messages]
    assert live_lag_s < LIVE_LAG_S, f"statuses reach WebSockets late after the restart: {lags}\n" + "\n".join(
        line[:400]
        for path in sorted(stack.log_dir.glob("*.log"))
        for line in path.read_text(errors="replace").splitlines()
        if any(m[0]["orderId"] in line for m, _ in live)
        or ("api" in path.name and '"level": "info"' not in line and "not accepted" not in line)
    )
