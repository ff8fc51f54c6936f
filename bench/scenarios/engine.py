"""Scenario 2, engine throughput: instant mock DEX (latency scale 0), N orders POSTed as fast as the
API takes them, measured from each order's statusHistory (pending timestamp → confirmed timestamp).

Configurations: worker concurrency 10 and 50, 1 and 2 worker processes on one API process, then
2 API + 2 worker processes (the scale-out). CPU per process group is recorded for each, which names
the bottleneck.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.client import HttpClient, summary_ms
from bench.context import Context
from bench.orders import entry, fetch_recent, order_ids, submit, submit_to_confirmed_ms, ts, wait_terminal
from bench.stack import CpuMeter, Stack, process_groups

# (API processes, worker processes, concurrency per worker)
FULL = [(1, 1, 10), (1, 1, 50), (1, 2, 10), (1, 2, 50), (2, 2, 50)]
QUICK = [(1, 1, 10)]


async def run_batch(ctx: Context, stack: Stack, n: int) -> dict[str, Any]:
    clients = [HttpClient("127.0.0.1", api.port or 0, max_connections=64) for api in stack.apis]
    try:
        meter = CpuMeter(process_groups(ctx.backing, [stack])).start()
        posted = await submit(clients, n, concurrency=32)
        ids = order_ids(posted)
        if len(ids) != n:
            raise RuntimeError(f"{n - len(ids)} of {n} POSTs failed")
        await wait_terminal(stack.database_url, ids, timeout_s=180)
        cpu = meter.stop()
        orders = await fetch_recent(clients[0], ids)
    finally:
        for c in clients:
            await c.close()
    res = summarise(orders, posted.elapsed_s, cpu)
    res["cpu_ms_per_order"] = meter.ms_per(res["orders"])
    return res


def summarise(orders: dict[str, dict[str, Any]], submit_elapsed_s: float, cpu: dict[str, float]) -> dict[str, Any]:
    confirmed = [o for o in orders.values() if o["status"] == "confirmed"]
    first = min(ts(o["statusHistory"][0]["timestamp"]) for o in orders.values())
    last = max(ts(entry(o, "confirmed")["timestamp"]) for o in confirmed)  # type: ignore[index]
    latencies = [m for o in confirmed if (m := submit_to_confirmed_ms(o)) is not None]
    return {
        "orders": len(orders),
        "confirmed": len(confirmed),
        "failed": len(orders) - len(confirmed),
        "elapsed_s": last - first,
        "orders_per_s": len(confirmed) / (last - first),
        "submit_rps": len(orders) / submit_elapsed_s,
        "latency_ms": summary_ms(latencies),
        "cpu_pct": cpu,
    }


async def run(ctx: Context) -> dict[str, Any]:
    """Per configuration: a pilot batch (warms pools and prepared statements, estimates the rate), then
    N = min(2000, the pilot's rate × `seconds`) orders (at least `floor_n`), so a slow engine on a busy box
    still finishes in bounded time and a fast one gets the full 2000."""
    cap, seconds, floor_n, pilot_n = (150, 3, 100, 40) if ctx.quick else (2000, 6, 300, 100)
    results: list[dict[str, Any]] = []
    stack = Stack(ctx.backing, "engine", ctx.log_dir)
    ctx.stacks.append(stack)
    try:
        for apis, workers, concurrency in QUICK if ctx.quick else FULL:
            starting = [stack.start_api() for _ in range(apis - len(stack.apis))]
            await asyncio.gather(*starting, stack.start_worker(ORDER_ENGINE_WORKER_CONCURRENCY=concurrency))
            for _ in range(workers - 1):  # one at a time: a worker is up once its registration appears
                await stack.start_worker(ORDER_ENGINE_WORKER_CONCURRENCY=concurrency)
            pilot = await run_batch(ctx, stack, pilot_n)
            n = ctx.fixed_batch or max(floor_n, min(cap, int(pilot["orders_per_s"] * seconds)))
            res = await run_batch(ctx, stack, n)
            res.update(apis=apis, workers=workers, concurrency=concurrency, pilot_orders_per_s=pilot["orders_per_s"])
            results.append(res)
            ctx.log(
                f"  engine {apis} api + {workers} worker x c{concurrency}: {res['orders_per_s']:6.1f} orders/s"
                f" (N={n})  p50 {res['latency_ms']['p50']:7.0f}  p99 {res['latency_ms']['p99']:7.0f} ms"
                f"  (POST {res['submit_rps']:.0f}/s)  cpu api {res['cpu_pct']['api']:.0f}%"
                f" worker {res['cpu_pct']['worker']:.0f}% pg {res['cpu_pct']['postgres']:.0f}%"
                f" redis {res['cpu_pct']['redis']:.0f}% other {res['cpu_pct']['other']:.0f}%"
            )
            stack.stop_workers()
    finally:
        stack.stop()
    return {
        "max_orders_per_config": cap,
        "target_seconds": seconds,
        "min_orders": floor_n,
        "pilot_orders": pilot_n,
        "configs": results,
    }
