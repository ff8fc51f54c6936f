"""What metrics cost: the engine at its defaults (1 API + 1 worker × c10, latency 0) with ORDER_ENGINE_METRICS off
and on, alternately (off on, on off, …), every batch the same size, the same code and servers. Both sides write to
a multiprocess directory, as `order-engine dev` runs (bench/stack.py). The ratios on ÷ off of each pair, and
their median, are one measure of the issue's "≤ 5 % more CPU per order"; on this shared box they vary ±20 % per
pair. The steadier one, where valgrind is installed: the instructions per order of the whole API and worker
processes under callgrind, off and on alternately (bench/process_instructions.py), which the target is judged by."""

from __future__ import annotations

import statistics
from typing import Any

from bench import process_instructions
from bench.context import Context
from bench.scenarios.engine import run_batch
from bench.stack import Stack

PAIRS, PAIRS_QUICK = 4, 1
BATCH, BATCH_QUICK = 1500, 150
PILOT = 100
# Instruction counts: rounds per process and seconds of idle window (orders and rates: process_instructions.DEFAULTS).
COUNTED_ROUNDS, IDLE_S = 3, 15


async def _side(ctx: Context, name: str, metrics: bool, n: int) -> dict[str, Any]:
    stack = Stack(ctx.backing, name, ctx.log_dir)
    ctx.stacks.append(stack)
    setting = "true" if metrics else "false"
    try:
        await stack.start_api(ORDER_ENGINE_METRICS=setting)
        await stack.start_worker(ORDER_ENGINE_METRICS=setting, ORDER_ENGINE_WORKER_CONCURRENCY=10)
        await run_batch(ctx, stack, PILOT)  # warms pools and prepared statements
        res = await run_batch(ctx, stack, n)
    finally:
        stack.stop()
        ctx.stacks.remove(stack)
    ctx.log(
        f"  metrics {'on ' if metrics else 'off'}: {res['orders_per_s']:6.1f} orders/s (N={n})"
        f"  cpu ms/order api {res['cpu_ms_per_order']['api']:.3f} worker {res['cpu_ms_per_order']['worker']:.3f}"
        f"  other {res['cpu_pct']['other']:.0f}%"
    )
    return {
        "orders_per_s": res["orders_per_s"],
        "api_ms": res["cpu_ms_per_order"]["api"],
        "worker_ms": res["cpu_ms_per_order"]["worker"],
        "other_cpu_pct": res["cpu_pct"]["other"],
    }


async def run(ctx: Context) -> dict[str, Any]:
    pairs, n = (PAIRS_QUICK, BATCH_QUICK) if ctx.quick else (PAIRS, BATCH)
    runs: list[dict[str, Any]] = []
    for i in range(pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        got = {m: await _side(ctx, f"metrics-{i + 1}-{'on' if m else 'off'}", m, n) for m in order}
        runs.append({"off": got[False], "on": got[True]})
    ratios = {
        key: [r["on"][key] / r["off"][key] for r in runs if r["off"][key]]
        for key in ("orders_per_s", "api_ms", "worker_ms")
    }
    counted: dict[str, Any] = {}
    native = statistics.median(r[side]["orders_per_s"] for r in runs for side in ("off", "on"))
    if not ctx.quick and process_instructions.available():
        for role in ("api", "worker"):
            ctx.log(f"  instructions per order of the {role} under callgrind, {COUNTED_ROUNDS} rounds")
            orders, rate = process_instructions.DEFAULTS[role]
            counted[role] = await process_instructions.count(
                ctx.backing, ctx.log_dir, role, COUNTED_ROUNDS, orders, rate, IDLE_S, native
            )
    elif not ctx.quick:
        ctx.log("  valgrind not installed: no instruction counts (apt-get install valgrind)")
    return {
        "pairs": pairs,
        "batch": n,
        "runs": runs,
        "ratios": ratios,
        "median": {k: statistics.median(v) if v else None for k, v in ratios.items()},
        "instructions": counted,
    }
