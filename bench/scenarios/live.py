"""Scenario 4, live updates: from the worker's publish of a status to a WebSocket client receiving it.

For each round (1, 100, 5,000 subscribers on one API process; 100 per order, the per-order cap, so
5,000 subscribers watch 50 orders): the worker is paused (SIGSTOP), the orders are POSTed, every
subscriber connects to /api/orders/{id}/ws and gets its snapshot, then the worker resumes and runs
the orders with the realistic mock DEX (so statuses are spread out as in production).

The benchmark also subscribes to each order's Redis channel itself and stamps each publish on
arrival: `publish → client` = WebSocket arrival − that stamp (the API's fan-out), and
`status → client` = WebSocket arrival − the status entry's timestamp, taken by the worker just
before its UPDATE (so it also holds the commit and the publish). Memory per connection is the API
process's RSS growth from before connecting to all subscribers connected and idle, divided by their
number.

The subscribers are `bench.wsclient` sockets, which stamp each frame as its bytes arrive and do
nothing else per frame, so the client's own work does not show up as the server's latency.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections import Counter
from typing import Any

import psutil

from bench.client import HttpClient, summary_ms
from bench.context import Context
from bench.orders import order_ids, submit, ts
from bench.stack import CpuMeter, Stack, process_groups
from bench.wsclient import Refused, WsSubscriber, subscribe

PER_ORDER = 100  # ORDER_ENGINE_WS_MAX_PER_ORDER's default


class _Stamper(asyncio.Protocol):
    """A bare RESP reader subscribed to the orders' channels: stamps each publish the moment its bytes
    arrive (in data_received, before any task of this process runs), so the reference is not delayed
    by the client's own work."""

    def __init__(self, stamps: dict[tuple[str, int], float]) -> None:
        self.stamps = stamps
        self.buf = b""
        self.subscribed = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self.buf += data
        while (item := self._array()) is not None:
            if item[0] == b"message":
                head = json.loads(item[2])
                self.stamps.setdefault((head["orderId"], head["seq"]), arrived)
            elif item[0] == b"subscribe":
                self.subscribed += 1

    def _array(self) -> list[bytes] | None:
        """Pop one `*N` array of bulk strings / integers off the buffer, or None if incomplete."""
        buf, pos = self.buf, 0
        end = buf.find(b"\r\n")
        if end < 0:
            return None
        count, pos, items = int(buf[1:end]), end + 2, []
        for _ in range(count):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            if buf[pos : pos + 1] == b"$":
                size = int(buf[pos + 1 : end])
                if len(buf) < end + 2 + size + 2:
                    return None
                items.append(buf[end + 2 : end + 2 + size])
                pos = end + 2 + size + 2
            else:  # :integer
                items.append(buf[pos + 1 : end])
                pos = end + 2
        self.buf = buf[pos:]
        return items


async def _subscribe_stamper(redis_url: str, channels: list[str], stamps: dict[tuple[str, int], float]):
    from urllib.parse import urlsplit

    url = urlsplit(redis_url)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(lambda: _Stamper(stamps), url.hostname, url.port or 6379)
    args = [b"SUBSCRIBE", *(c.encode() for c in channels)]
    transport.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    deadline = time.monotonic() + 10
    while proto.subscribed < len(channels):
        if time.monotonic() > deadline:
            raise TimeoutError("Redis SUBSCRIBE not confirmed")
        await asyncio.sleep(0.01)
    return transport


async def one_round(ctx: Context, stack: Stack, subscribers: int) -> dict[str, Any]:
    api = stack.apis[0]
    n_orders = math.ceil(subscribers / PER_ORDER)
    stack.pause_workers()
    http = HttpClient("127.0.0.1", api.port or 0, 16)
    posted = await submit([http], n_orders, concurrency=8)
    await http.close()
    ids = order_ids(posted)
    rss_before = psutil.Process(api.pid).memory_info().rss
    subs: list[WsSubscriber] = []
    stamps: dict[tuple[str, int], float] = {}
    channels = [f"{stack.prefix}:order:{oid}" for oid in ids]
    stamper = await _subscribe_stamper(ctx.backing.redis_url, channels, stamps)
    gate = asyncio.Semaphore(100)
    refused: Counter[str] = Counter()
    connect_started = time.perf_counter()

    async def start(i: int) -> None:
        async with gate:
            try:
                sub = await subscribe("127.0.0.1", api.port or 0, f"/api/orders/{ids[i % n_orders]}/ws")
                subs.append(sub)
                await sub.ready
            except Refused as exc:
                refused[str(exc)] += 1
            except OSError as exc:
                refused[type(exc).__name__] += 1

    connect_limit_s, deliver_limit_s = (20, 20) if ctx.quick else (30, 30)
    try:
        # Bounded: past some number of subscribers the API cannot keep up (see `idle_api_cpu_pct`), and the
        # round then reports how many connected rather than hanging.
        try:
            await asyncio.wait_for(asyncio.gather(*(start(i) for i in range(subscribers))), connect_limit_s)
        except TimeoutError:
            pass
        connect_s = time.perf_counter() - connect_started
        connected = sum(1 for sub in subs if sub.ready.done() and sub.ready.exception() is None)
        await asyncio.sleep(0.5)
        idle = CpuMeter(process_groups(ctx.backing, [stack])).start()
        # All connected and idle (the worker is paused): what do idle sockets cost? A quiet stream re-reads
        # PostgreSQL every 5 s, so the window must be longer than that to see it.
        await asyncio.sleep(5.5 if subscribers >= 1000 else 1.0)
        idle_cpu = idle.stop()
        rss_idle = psutil.Process(api.pid).memory_info().rss
        meter = CpuMeter(process_groups(ctx.backing, [stack])).start()
        stack.resume_workers()
        live = [sub.closed for sub in subs if not sub.closed.done()]
        unfinished: set[asyncio.Future[int]] = set()
        if live:
            _, unfinished = await asyncio.wait(live, timeout=deliver_limit_s)  # each closes after `confirmed`
        cpu = meter.stop()
    finally:
        stamper.close()
        for sub in subs:
            if sub.transport is not None:
                sub.transport.close()
        stack.resume_workers()

    from_publish, from_status, missing = [], [], 0
    by_status: dict[str, list[float]] = {}
    whole_by_status: dict[str, list[float]] = {}
    for sub in subs:
        for arrived, data in sub.received[1:]:  # after the snapshot
            msg = json.loads(data)
            from_status.append((arrived - ts(msg["timestamp"])) * 1000)
            whole_by_status.setdefault(msg["status"], []).append(from_status[-1])
            stamp = stamps.get((msg["orderId"], msg["seq"]))
            if stamp is None:
                missing += 1
            else:
                from_publish.append((arrived - stamp) * 1000)
                by_status.setdefault(msg["status"], []).append((arrived - stamp) * 1000)
    messages = sum(max(0, len(sub.received) - 1) for sub in subs)
    result = {
        "subscribers": subscribers,
        "connected": connected,
        "refused": dict(refused),
        "unfinished_streams": len(unfinished),
        "orders": n_orders,
        "messages": messages,
        "expected_messages": 4 * connected,
        "connect_s": connect_s,
        "idle_api_cpu_pct": idle_cpu["api"],
        "idle_pg_cpu_pct": idle_cpu["postgres"],
        "publish_to_client_ms": summary_ms(from_publish),
        "status_to_client_ms": summary_ms(from_status),
        "publish_to_client_by_status_ms": {k: summary_ms(v) for k, v in by_status.items()},
        "status_to_client_by_status_ms": {k: summary_ms(v) for k, v in whole_by_status.items()},
        "unstamped": missing,
        "rss_before_mb": rss_before / 2**20,
        "rss_idle_mb": rss_idle / 2**20,
        "kb_per_connection": (rss_idle - rss_before) / 1024 / max(1, connected),
        "cpu_pct": cpu,
    }
    ctx.log(
        f"  live {subscribers:>5} subscribers: publish->client p50 {result['publish_to_client_ms']['p50']:.1f}"
        f" p99 {result['publish_to_client_ms']['p99']:.1f} ms; status->client p99"
        f" {result['status_to_client_ms']['p99']:.1f} ms; {result['kb_per_connection']:.1f} KB/connection"
        f" (connected {connected} in {connect_s:.1f}s, idle API cpu {idle_cpu['api']:.0f}%, {messages} of"
        f" {4 * connected} messages)"
    )
    return result


async def run(ctx: Context) -> dict[str, Any]:
    rounds = [1, 100] if ctx.quick else [int(x) for x in os.environ.get("BENCH_LIVE_ROUNDS", "1,100,5000").split(",")]
    stack = Stack(
        ctx.backing,
        "live",
        ctx.log_dir,
        ORDER_ENGINE_DEX_LATENCY_SCALE=1.0,
        ORDER_ENGINE_WORKER_CONCURRENCY=max(10, math.ceil(rounds[-1] / PER_ORDER)),
    )
    ctx.stacks.append(stack)
    try:
        await asyncio.gather(stack.start_api(), stack.start_worker())
        return {"rounds": [await one_round(ctx, stack, n) for n in rounds], "latency_scale": 1.0}
    finally:
        stack.stop()
