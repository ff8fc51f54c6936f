"""Instructions per order of a whole `order-engine worker` or `api` process, counted by valgrind (callgrind),
metrics off and on, alternately:

    python -m bench.process_instructions [--role worker|api] [--rounds 2] [--orders 200] [--idle-s 20]

Each side is an API and a worker, the one of `--role` under `valgrind --tool=callgrind` (all of it: SAQ, the lanes,
the HTTP layer, the timers). After a warm-up batch, the counters are zeroed, the process idles `--idle-s` seconds (its idle rate: timers,
heartbeats, the metrics flush), is zeroed again and does `--orders` orders; each window is dumped with
`callgrind_control`. Instructions per order = (batch − idle rate × batch wall time) ÷ orders: the worker runs
many times slower under valgrind, so idle work over the batch's long wall time would otherwise count as cost per order.
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

from bench.client import HttpClient
from bench.orders import order_ids, submit, wait_terminal
from bench.stack import Backing, Stack

WARM = 20


def _control(flag: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=120)


def _dump(pid: int, out: Path) -> int:
    """Dump the counters since the last zero and return their instruction total (the newest dump file's)."""
    before = set(out.parent.glob(out.name + ".*"))
    _control("-d", pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(out.parent.glob(out.name + ".*")) - before
        for f in new:
            m = re.search(r"^totals:\s+(\d+)", f.read_text(errors="replace"), re.M)
            if m:
                return int(m.group(1))
        time.sleep(0.2)
    raise TimeoutError(f"no callgrind dump from {pid}")


async def _batch(stack: Stack, n: int) -> float:
    clients = [HttpClient("127.0.0.1", stack.apis[0].port or 0, max_connections=16)]
    try:
        started = time.monotonic()
        ids = order_ids(await submit(clients, n, concurrency=8))
        if len(ids) != n:
            raise RuntimeError(f"{n - len(ids)} of {n} POSTs failed")
        await wait_terminal(stack.database_url, ids, timeout_s=1800)
        return time.monotonic() - started
    finally:
        await clients[0].close()


async def side(
    backing: Backing, log_dir: Path, name: str, role: str, metrics: bool, orders: int, idle_s: float
) -> dict[str, Any]:
    """One stack with metrics on or off; `role` (api or worker) runs under callgrind, the other one normally."""
    setting = "true" if metrics else "false"
    stack = Stack(backing, name, log_dir)
    out = log_dir / f"{name}.callgrind"
    plain = stack.launcher
    counted = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *plain]
    try:
        stack.launcher = counted if role == "api" else plain
        api = await stack.start_api(ready_timeout_s=600, ORDER_ENGINE_METRICS=setting)
        stack.launcher = counted if role == "worker" else plain
        worker = await stack.start_worker(ready_timeout_s=600, ORDER_ENGINE_METRICS=setting)
        pid = api.pid if role == "api" else worker.pid
        await _batch(stack, WARM)
        _control("-z", pid)
        zeroed = time.monotonic()
        await asyncio.sleep(idle_s)
        idle = _dump(pid, out)
        idle_wall = time.monotonic() - zeroed  # the dump itself takes a moment
        _control("-z", pid)
        wall = await _batch(stack, orders)
        batch = _dump(pid, out)
    finally:
        stack.stop()
    idle_rate = idle / idle_wall
    per_order = (batch - idle_rate * wall) / orders
    res = {"metrics": metrics, "orders": orders, "batch_wall_s": wall, "batch_instr": batch,
           "idle_instr_per_s": idle_rate, "instr_per_order": per_order}  # fmt: skip
    print(
        f"{name}: {per_order / 1e6:6.2f} M instructions/order (batch {batch / 1e9:.2f} G over {wall:.0f} s, "
        f"idle {idle_rate / 1e6:.1f} M/s)",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    return res


async def count(backing: Backing, log_dir: Path, role: str, rounds: int, orders: int, idle_s: float) -> dict[str, Any]:
    """`rounds` pairs, off then on, on then off, …: each side's instructions per order, and on ÷ off per pair."""
    runs = []
    for i in range(rounds):
        got = {}
        for m in (False, True) if i % 2 == 0 else (True, False):
            got[m] = await side(backing, log_dir, f"{role}-r{i + 1}-{'on' if m else 'off'}", role, m, orders, idle_s)
        ratio = got[True]["instr_per_order"] / got[False]["instr_per_order"]
        runs.append({"off": got[False], "on": got[True], "ratio": ratio})
        print(f"{role} round {i + 1}: on ÷ off = {ratio:.3f}", file=sys.stderr, flush=True)
    ratios = [r["ratio"] for r in runs]
    return {"role": role, "orders": orders, "runs": runs, "ratios": ratios, "median": statistics.median(ratios)}


def available() -> bool:
    return bool(shutil.which("valgrind") and shutil.which("callgrind_control"))


async def main(role: str, rounds: int, orders: int, idle_s: float) -> None:
    if not available():
        sys.exit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    log_dir = Path(tempfile.mkdtemp(prefix="oe-process-instr-"))
    backing = Backing.start()
    try:
        result = await count(backing, log_dir, role, rounds, orders, idle_s)
    finally:
        backing.stop()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=("worker", "api"), default="worker", help="the process counted")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--orders", type=int, default=200)
    p.add_argument("--idle-s", type=float, default=20)
    a = p.parse_args()
    asyncio.run(main(a.role, a.rounds, a.orders, a.idle_s))
