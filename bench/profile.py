"""Sampling profiles (py-spy) of the worker and the API under load, and what they say.

Separate from the measured runs (py-spy takes CPU on a 2-core box): `profile_engine` records the
worker and the API while an engine batch runs (latency scale 0, one worker at the default concurrency, 10);
`profile_accept` records the API under open-loop POSTs. Each profile is py-spy's collapsed-stack
text (`--format raw`, aggregated by function), loadable in speedscope.app or flamegraph.pl, and is
summarised here: the share of samples per package (self and inclusive) and the top functions.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.client import HttpClient, open_loop
from bench.context import Context
from bench.orders import order_ids, post_order, submit, wait_terminal
from bench.stack import Stack

RATE = 100  # samples per second

# Frames under every sample of their thread (the event loop, the CLI, uvicorn's server): left out of
# the inclusive shares, which would otherwise all start at ~100 %.
OUTER = (
    "<frozen runpy>",
    "order_engine/app/cli.py",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "litestar_saq/cli.py",
    "asyncio/",
    "threading.py",
    "concurrent/futures/thread.py",
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    exe = Path(sys.executable).with_name("py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, out: Path) -> asyncio.subprocess.Process:
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
    out.parent.mkdir(parents=True, exist_ok=True)
    return await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--function",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _package(path: str) -> str:
    """py-spy prints files relative to sys.path: `sqlalchemy/sql/elements.py`, `typing.py`."""
    top = path.split("/", 1)[0].removesuffix(".py")
    if top in sys.stdlib_module_names or top.startswith("<frozen"):
        return f"stdlib:{top}"
    return top or "?"


def summarize(path: Path, seconds: float, top: int = 15) -> dict[str, Any]:
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    self_pkg: Counter[str] = Counter()
    incl_pkg: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw.strip())
            frames.append((m.group("func"), m.group("file")) if m else (raw.strip(), "?"))
        func, file = frames[-1]
        self_fn[f"{func} ({file})"] += count
        self_pkg[_package(file)] += count
        inner = [(fn, fl) for fn, fl in frames if not fl.startswith(OUTER)]
        for name in {f"{fn} ({fl})" for fn, fl in inner}:
            incl_fn[name] += count
        for pkg in {_package(fl) for _, fl in inner}:
            incl_pkg[pkg] += count

    def pct(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)] if total else []

    return {
        "file": str(path),
        "samples": total,
        "cpu_pct": round(100 * total / (RATE * seconds), 1),  # on-CPU samples / possible samples
        "self_by_package": pct(self_pkg, 12),
        "inclusive_by_package": pct(incl_pkg, 16),
        "self_functions": pct(self_fn, top),
        "engine_functions": [(k, v) for k, v in pct(incl_fn, 400) if "(order_engine/" in k][:top],
    }


async def profile_engine(ctx: Context, out_dir: Path, seconds: float) -> dict[str, Any]:
    stack = Stack(ctx.backing, "profile-engine", ctx.log_dir)
    ctx.stacks.append(stack)
    try:
        api = await stack.start_api()
        worker = await stack.start_worker()  # the defaults: concurrency 10
        client = HttpClient("127.0.0.1", api.port or 0, 64)
        await wait_terminal(stack.database_url, order_ids(await submit([client], 50)), 60)
        spies = [
            await record(worker.pid, seconds, out_dir / "worker.txt"),
            await record(api.pid, seconds, out_dir / "api-engine.txt"),
        ]
        load = asyncio.create_task(submit([client], 100_000, concurrency=32))  # until the profiles end
        await asyncio.gather(*(s.wait() for s in spies))
        load.cancel()
        await asyncio.gather(load, return_exceptions=True)
        await client.close()
    finally:
        stack.stop()
    return {
        "worker": summarize(out_dir / "worker.txt", seconds),
        "api_engine": summarize(out_dir / "api-engine.txt", seconds),
    }


async def profile_accept(ctx: Context, out_dir: Path, seconds: float, rate: float) -> dict[str, Any]:
    stack = Stack(ctx.backing, "profile-accept", ctx.log_dir)
    ctx.stacks.append(stack)
    try:
        api = await stack.start_api()
        client = HttpClient("127.0.0.1", api.port or 0, 256)
        raw = post_order(client)
        await open_loop(client, lambda _: raw, 100, 1.0)
        spy = await record(api.pid, seconds, out_dir / "api-accept.txt")
        await open_loop(client, lambda _: raw, rate, seconds + 0.5, timeout_s=5)
        await spy.wait()
        await client.close()
    finally:
        stack.stop()
    return {"api_accept": summarize(out_dir / "api-accept.txt", seconds), "rate": rate}


async def run(ctx: Context, out_dir: Path, accept_rate: float) -> dict[str, Any]:
    seconds = 5 if ctx.quick else 8
    result = {**await profile_engine(ctx, out_dir, seconds), **await profile_accept(ctx, out_dir, seconds, accept_rate)}
    result["seconds"], result["rate_hz"] = seconds, RATE
    for name in ("worker", "api_engine", "api_accept"):
        p = result[name]
        ctx.log(
            f"  profile {name}: {p['samples']} samples ({p['cpu_pct']}% on CPU); top self {p['self_functions'][:3]}"
        )
    return result
