"""Instructions per order of a whole `order-engine worker` or `api` process, counted by valgrind (callgrind),
metrics off and on, alternately:

    python -m bench.process_instructions [--role worker|api] [--rounds 3] [--orders N] [--rate R] [--idle-s 15]
        [--native-rate 300]

Each side is an API and a worker, the one of `--role` under `valgrind --tool=callgrind` (all of it: SAQ, the lanes,
the HTTP layer, the timers). After a warm-up batch the counters are zeroed for an idle window (the process's idle
rate), then zeroed again for a batch of `--orders` orders POSTed at a fixed `--rate`, which the counted process
keeps up with; each window is dumped with `callgrind_control`.

The pacing makes the two sides comparable: under valgrind a process runs many times slower, and its idle work
(timers, heartbeats, sweeps: ~15–25 % of a batch's instructions at this pace, and bursty) grows with the batch's
wall time; at a fixed rate both sides' batches take the same time. Each side's cost per order is its batch's
instructions net of the idle rate × the batch's wall time, plus the idle rate shared out over the orders a second
the stack does at full speed without valgrind (`--native-rate`; the metrics_cost scenario passes what it measured):
what an order costs at the defaults, where the timers' work is spread over ~40× as many orders as here.
PostgreSQL and Redis are the embedded ones unless DATABASE_URL and REDIS_URL are set (bench/stack.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.client import HttpClient, open_loop
from bench.orders import HEADERS, ORDER_BODY, order_ids, submit, wait_terminal
from bench.stack import Backing, Stack

WARM = 20
# What each counted process keeps up with under valgrind on our machines (a worker does ~13 orders/s there).
DEFAULTS: dict[str, tuple[int, float]] = {"api": (400, 40.0), "worker": (200, 8.0)}  # orders per side, POSTs/s
NATIVE_ORDERS_PER_S = 300.0  # the defaults' throughput without valgrind on our machines (BENCHMARKS.md)


def available() -> bool:
    return bool(shutil.which("valgrind") and shutil.which("callgrind_control"))


def _control(flag: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=120)


def _dump(pid: int, out: Path) -> int:
    """Dump the counters since the last zero and return their instruction total (the newest dump file's)."""
    before = set(out.parent.glob(out.name + ".*"))
    _control("-d", pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for f in set(out.parent.glob(out.name + ".*")) - before:
            m = re.search(r"^totals:\s+(\d+)", f.read_text(errors="replace"), re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.2)
    raise TimeoutError(f"no callgrind dump from {pid}")


async def _batch(stack: Stack, n: int, rate: float | None) -> float:
    """`n` orders, POSTed at `rate` a second (as fast as they go when None), until all are terminal; wall seconds."""
    client = HttpClient("127.0.0.1", stack.apis[0].port or 0, max_connections=64)
    try:
        started = time.monotonic()
        if rate is None:
            posted = await submit([client], n, concurrency=8)
        else:
            raw = client.request_bytes("POST", "/api/orders/execute", ORDER_BODY, HEADERS)
            posted = await open_loop(client, lambda _i: raw, rate, n / rate, timeout_s=60, keep_body=True)
        ids = order_ids(posted)
        if len(ids) != n:
            raise RuntimeError(f"{n - len(ids)} of {n} POSTs failed")
        await wait_terminal(stack.database_url, ids, timeout_s=1800)
        return time.monotonic() - started
    finally:
        await client.close()


async def side(
    backing: Backing, log_dir: Path, name: str, role: str, metrics: bool, orders: int, rate: float, idle_s: float
) -> dict[str, Any]:
    """One stack with metrics on or off; `role` (api or worker) runs under callgrind, the other one normally."""
    setting = "true" if metrics else "false"
    stack = Stack(backing, name, log_dir)
    out = log_dir / f"{name}.callgrind"
    for stale in log_dir.glob(out.name + "*"):  # an earlier run's dumps would hide this one's
        stale.unlink()
    plain = stack.launcher
    counted = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *plain]
    try:
        stack.launcher = counted if role == "api" else plain
        api = await stack.start_api(ready_timeout_s=600, ORDER_ENGINE_METRICS=setting)
        stack.launcher = counted if role == "worker" else plain
        worker = await stack.start_worker(ready_timeout_s=600, ORDER_ENGINE_METRICS=setting)
        pid = api.pid if role == "api" else worker.pid
        await _batch(stack, WARM, None)
        _control("-z", pid)
        zeroed = time.monotonic()
        await asyncio.sleep(idle_s)
        idle = _dump(pid, out)
        idle_wall = time.monotonic() - zeroed  # the dump itself takes a moment
        _control("-z", pid)
        wall = await _batch(stack, orders, rate)
        batch = _dump(pid, out)
    finally:
        stack.stop()
    idle_rate = idle / idle_wall
    res = {
        "metrics": metrics,
        "orders": orders,
        "rate": rate,
        "batch_wall_s": wall,
        "batch_instr": batch,
        "idle_instr_per_s": idle_rate,
        "gross_per_order": batch / orders,  # idle work over the batch's wall time included
        "net_per_order": (batch - idle_rate * wall) / orders,
    }
    print(
        f"{name}: {res['gross_per_order'] / 1e6:6.2f} M instructions/order gross, {res['net_per_order'] / 1e6:.2f} M"
        f" net of idle ({wall:.1f} s, idle {idle_rate / 1e6:.1f} M/s)",
        file=sys.stderr,
        flush=True,
    )
    return res


def at_rate(side: dict[str, Any], orders_per_s: float) -> float:
    """Instructions per order at `orders_per_s`: the batch's work net of idle, plus the idle work per second
    shared out over that many orders (a process at full speed spreads its timers over ~40× the orders it does
    under valgrind)."""
    return float(side["net_per_order"] + side["idle_instr_per_s"] / orders_per_s)


async def count(
    backing: Backing,
    log_dir: Path,
    role: str,
    rounds: int,
    orders: int,
    rate: float,
    idle_s: float,
    native_orders_per_s: float = NATIVE_ORDERS_PER_S,
) -> dict[str, Any]:
    """`rounds` pairs, off then on, on then off, …: each side's instructions per order and on ÷ off per pair, at
    `native_orders_per_s` (what the stack does without valgrind: the metrics_cost scenario measures it)."""
    runs = []
    for i in range(rounds):
        got = {}
        for m in (False, True) if i % 2 == 0 else (True, False):
            name = f"{role}-r{i + 1}-{'on' if m else 'off'}"
            got[m] = await side(backing, log_dir, name, role, m, orders, rate, idle_s)
        off, on = got[False], got[True]
        ratio = at_rate(on, native_orders_per_s) / at_rate(off, native_orders_per_s)
        runs.append({"off": off, "on": on, "ratio": ratio})
        print(f"{role} round {i + 1}: on ÷ off = {ratio:.3f}", file=sys.stderr, flush=True)
    ratios = [r["ratio"] for r in runs]
    return {
        "role": role,
        "orders": orders,
        "rate": rate,
        "native_orders_per_s": native_orders_per_s,
        "runs": runs,
        "ratios": ratios,
        "median": statistics.median(ratios),
    }


async def main(args: argparse.Namespace) -> None:
    if not available():
        sys.exit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    log_dir = Path(tempfile.mkdtemp(prefix="oe-process-instr-"))
    orders, rate = DEFAULTS[args.role]
    orders, rate = args.orders or orders, args.rate or rate
    backing = Backing.start()
    try:
        result = await count(backing, log_dir, args.role, args.rounds, orders, rate, args.idle_s, args.native_rate)
    finally:
        backing.stop()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=("worker", "api"), default="worker", help="the process counted")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--orders", type=int, help="orders per side (api 400, worker 200)")
    p.add_argument("--rate", type=float, help="orders POSTed per second (api 40, worker 8)")
    p.add_argument("--idle-s", type=float, default=15)
    p.add_argument("--native-rate", type=float, default=NATIVE_ORDERS_PER_S, help="orders/s at full speed")
    asyncio.run(main(p.parse_args()))
