"""Scenario 3, realistic mode: mock DEX latency ×1.0, worker concurrency 10, the start-rate limit on.

Phase A offers 1.5 orders/s (1 in --quick), below the rate limit and the worker's capacity, and yields the engine's own
overhead per order: (submit → confirmed) minus the simulated DEX time — the quotes (`quoteMs` in the
routing entry), the blockhash fetch (`blockhashMs` in the building entry; only what is left of it after the quotes,
where it runs beside them), the send (50 ms × (0.5 + r),
recomputed from the order's seed) and the chain's execution (`executionMs` in the confirmed entry). What is left is queueing, dequeue, reads, the
status writes on the critical path, and the event loop.

Phase B offers more than the limit allows (4 orders/s) and shows the throughput pinned to the limit:
attempt starts (`attemptStartedAt`) and confirmations per minute, counted over whole windows after the
first. The limit is 100/min, configured as 25 per 15 s (full) or 5 per 3 s (quick) so that
a short run covers several windows; a moving window of 100 per 60 s would need minutes to show a rate.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

from bench.client import HttpClient, open_loop, summary_ms
from bench.context import Context
from bench.orders import entry, fetch_recent, order_ids, post_order, ts
from bench.stack import CpuMeter, EngineCode, Stack, clean_env, process_groups

LATENCY_SCALE = 1.0


_SEND_SLEEPS = """
import json, sys
from order_engine.adapters.mock_dex.prices import rng_for
seed, ids, scale = json.load(sys.stdin)
print(json.dumps([50 * scale * (0.5 + rng_for(seed, i, 1, "submit").random()) for i in ids]))
"""


def send_sleeps_ms(code: EngineCode, seed: str, ids: list[str]) -> dict[str, float]:
    """The mock chain's simulated send time of each order's first attempt (chain.submit draws it from this
    RNG), recomputed by the engine under test in a process of its own, since `code` need not be the
    engine this process imports. Empty if the mock changed: the send then stays in the overhead."""
    try:
        done = code.python(
            ["-c", _SEND_SLEEPS],
            clean_env(),
            input=json.dumps([seed, ids, LATENCY_SCALE]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return dict(zip(ids, json.loads(done.stdout), strict=True)) if done.returncode == 0 else {}
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def overhead(order: dict[str, Any], send_ms: float | None) -> dict[str, float] | None:
    done, routing = entry(order, "confirmed"), entry(order, "routing")
    if done is None or routing is None or order["attempts"] != 1:
        return None
    total = (ts(done["timestamp"]) - ts(order["statusHistory"][0]["timestamp"])) * 1000
    quote = float(routing["metadata"]["quoteMs"])
    execution = float(done["metadata"]["executionMs"])
    send = send_ms or 0.0
    building, submitted = entry(order, "building"), entry(order, "submitted")
    blockhash = float((building or {}).get("metadata", {}).get("blockhashMs", 0))
    started = routing["metadata"].get("attemptStartedAt")
    if started is None or building is None or submitted is None:
        return None
    t = {
        k: ts(v) * 1000
        for k, v in (
            ("pending", order["statusHistory"][0]["timestamp"]),
            ("started", started),
            ("routing", routing["timestamp"]),
            ("building", building["timestamp"]),
            ("submitted", submitted["timestamp"]),
            ("confirmed", done["timestamp"]),
        )
    }
    # The blockhash fetch's time on the order's path: all of it where it followed the quotes; where it ran
    # beside them (since 9224af2), only what was left of it when they were in (building's stamp follows it).
    blockhash = min(blockhash, max(0.0, t["building"] - t["routing"]))
    return {
        "total": total,
        "dex": quote + blockhash + send + execution,
        "overhead": total - quote - blockhash - send - execution,
        # where the overhead sits (each stage minus the simulated DEX time inside it):
        "queued": t["started"] - t["pending"],  # queue + dequeue (+ throttle wait)
        "route": t["routing"] - t["started"] - quote,  # read the order, gather the quotes
        "build": t["building"] - t["routing"] - blockhash,  # build the swap (the entries' times: one write since)
        "send": t["submitted"] - t["building"] - send,  # the route + build write + publish, the chain's script
        "confirm": t["confirmed"] - t["submitted"] - execution,  # submitted write + publish + confirm reads, hidden
        # in the execution window (which starts at the send, just before `submitted`): ≈ 0 or slightly negative
    }


async def run(ctx: Context) -> dict[str, Any]:
    limit, window = (5, 3) if ctx.quick else (25, 15)  # both 100/min
    phase_a_s, phase_b_s = (3, 6) if ctx.quick else (20, 30)
    rate_a = 1.0 if ctx.quick else 1.5  # orders/s: under the limit (100/min) and the worker's ~3.4/s
    stack = Stack(
        ctx.backing,
        "realistic",
        ctx.log_dir,
        ORDER_ENGINE_DEX_LATENCY_SCALE=LATENCY_SCALE,
        ORDER_ENGINE_WORKER_CONCURRENCY=10,
        ORDER_ENGINE_RATE_LIMIT=limit,
        ORDER_ENGINE_RATE_LIMIT_WINDOW_S=window,
    )
    ctx.stacks.append(stack)
    seed = stack.env["ORDER_ENGINE_DEX_SEED"]
    try:
        api, _ = await asyncio.gather(stack.start_api(), stack.start_worker())
        client = HttpClient("127.0.0.1", api.port or 0, 64)
        raw = post_order(client)
        meter = CpuMeter(process_groups(ctx.backing, [stack])).start()
        a = await open_loop(client, lambda _: raw, rate_a, phase_a_s, keep_body=True)
        b_started_wall = time.time()
        b = await open_loop(client, lambda _: raw, 4.0, phase_b_s, keep_body=True)
        await asyncio.sleep(3.5 * LATENCY_SCALE)  # the last admitted orders confirm
        cpu = meter.stop()
        ids_a, ids_b = order_ids(a), order_ids(b)
        orders = await fetch_recent(client, ids_a + ids_b)
        await client.close()
    finally:
        stack.stop()

    sends = send_sleeps_ms(ctx.backing.code, seed, ids_a)
    per_order = [o for oid in ids_a if (o := overhead(orders[oid], sends.get(oid))) is not None]
    lo, hi = b_started_wall + window, b_started_wall + phase_b_s
    starts = confirms = 0
    for oid in ids_b:
        routing, done = entry(orders[oid], "routing"), entry(orders[oid], "confirmed")
        if (
            routing
            and routing["metadata"].get("attemptStartedAt")
            and lo <= ts(routing["metadata"]["attemptStartedAt"]) < hi
        ):
            starts += 1
        if done and lo <= ts(done["timestamp"]) < hi:
            confirms += 1
    minutes = (hi - lo) / 60
    result = {
        "latency_scale": LATENCY_SCALE,
        "concurrency": 10,
        "limit": limit,
        "window_s": window,
        "limit_per_min": limit * 60 / window,
        "phase_a": {
            "rate": rate_a,
            "orders": len(ids_a),
            "measured": len(per_order),
            "overhead_ms": summary_ms([p["overhead"] for p in per_order]),
            "total_ms": summary_ms([p["total"] for p in per_order]),
            "dex_ms": summary_ms([p["dex"] for p in per_order]),
            "stages_ms": {
                k: summary_ms([p[k] for p in per_order]) for k in ("queued", "route", "build", "send", "confirm")
            },
        },
        "phase_b": {
            "offered_per_min": 4.0 * 60,
            "orders": len(ids_b),
            "window": [window, phase_b_s],
            "starts_per_min": starts / minutes,
            "confirmed_per_min": confirms / minutes,
        },
        "cpu_pct": cpu,
        "blockhash_recorded": all(
            "blockhashMs" in (entry(orders[oid], "building") or {}).get("metadata", {}) for oid in ids_a
        ),
    }
    pa, pb = result["phase_a"], result["phase_b"]
    ctx.log(
        f"  realistic: overhead p50 {pa['overhead_ms']['p50']:.1f} p99 {pa['overhead_ms']['p99']:.1f} ms"
        f" (submit->confirmed p50 {pa['total_ms']['p50']:.0f} ms);"
        f" limit {result['limit_per_min']:.0f}/min -> starts {pb['starts_per_min']:.0f}/min,"
        f" confirmed {pb['confirmed_per_min']:.0f}/min"
    )
    return result
