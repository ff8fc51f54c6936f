"""Instructions per uneventful pool change of a whole `order-engine watcher` (callgrind), two checkouts alternately.

    python -m bench.watcher_instructions --a <git-ref> [--rounds 3] [--resting 1000] [--moves 100] [--out FILE]

The resting scenario reads the watcher's CPU time per uneventful change, which on a shared virtual machine varies
by a quarter between runs of one commit: too coarse to tell two commits 10 % apart. Instructions are repeatable
whatever else the machine does (they leave out the kernel's share: system calls are the same code on both sides).

Each side is an API, a worker and a watcher on one checkout (A: `--a`, in the A/B's worktree under build/ab/; B:
this working tree), the watcher under `valgrind --tool=callgrind`. `--resting` limit orders over the resting
scenario's five pairs rest 5–10 % above the market (nothing crosses them), POSTed before the watcher starts so that
its rebuild indexes them, and the windows start once the POSTs are older than the watcher's reconcile look-back
(until then every reconcile re-reads all of them). The counters are zeroed for an idle window (lease renewals,
status, stream reads, reconciles), for `--moves` moves of JUP/USDC by ±1 bps on both venues (two pool changes
each) paced so that the counted watcher keeps up and a settling wait, and for a second idle window; each window
is dumped with `callgrind_control`. A side's cost per change is the moves window's instructions net of the mean
idle rate × its wall time, over the changes. PostgreSQL and Redis are the embedded ones unless DATABASE_URL and
REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.ab.sides import ref_side
from bench.client import HttpClient
from bench.process_instructions import _control, _dump, available
from bench.scenarios.resting import (
    LOOK_BACK_S,
    PAIRS,
    VENUES,
    Market,
    _best_effective,
    _body,
    _indexed,
    _post_all,
    uneventful_moves,
)
from bench.stack import ROOT, Backing, EngineCode, Stack
from order_engine_embedded import plain_url

SETTLE_S = 5.0  # after the last move: the counted watcher has caught up


async def _rest(stack: Stack, market: Market, n: int) -> int:
    api = stack.apis[0]
    client = HttpClient("127.0.0.1", api.port or 0, max_connections=16)
    try:
        bodies = []
        for base, quote, amount in PAIRS:
            best = _best_effective(await market.pools(base, quote), base, Decimal(amount))
            for i in range(n // len(PAIRS)):
                pct = Decimal("0.05") + Decimal("0.05") * i / (n // len(PAIRS))
                bodies.append(_body(base, quote, amount, (best * (1 + pct)).quantize(Decimal("1e-12"))))
        return len(await _post_all(client, bodies))
    finally:
        await client.close()


async def _idle(pid: int, out: Path, window_s: float) -> float:
    """The watcher's instructions per second over `window_s` of nothing happening."""
    _control("-z", pid)
    zeroed = time.monotonic()
    await asyncio.sleep(window_s)
    return _dump(pid, out) / (time.monotonic() - zeroed)


async def side(backing: Backing, log_dir: Path, name: str, resting: int, moves: int, pace_s: float) -> dict[str, Any]:
    stack = Stack(backing, name, log_dir)
    out = log_dir / f"{name}.callgrind"
    for stale in log_dir.glob(out.name + "*"):
        stale.unlink()
    redis = aioredis.Redis.from_url(backing.redis_url)
    conn = await asyncpg.connect(plain_url(stack.database_url))
    try:
        await stack.start_api()
        await stack.start_worker()
        market = Market(redis, stack.prefix)
        posted = await _rest(stack, market, resting)
        posted_at = time.monotonic()
        stack.launcher = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *stack.launcher]
        watcher = await stack.start_watcher(timeout_s=900)
        indexed = await _indexed(redis, stack, conn, timeout_s=900)
        await uneventful_moves(market, 4, pace_s=pace_s)  # warm: a first change's caches are not what one costs
        await asyncio.sleep(max(SETTLE_S, posted_at + LOOK_BACK_S - time.monotonic()))
        window = moves * pace_s + SETTLE_S
        idle_before = await _idle(watcher.pid, out, window)
        _control("-z", watcher.pid)
        zeroed = time.monotonic()
        await uneventful_moves(market, moves, pace_s=pace_s)
        await asyncio.sleep(SETTLE_S)
        busy = _dump(watcher.pid, out)
        busy_wall = time.monotonic() - zeroed
        idle_after = await _idle(watcher.pid, out, window)
    finally:
        await conn.close()
        await redis.aclose()
        stack.stop()
    changes = moves * len(VENUES)
    idle_rate = (idle_before + idle_after) / 2
    res = {
        "posted": posted,
        "indexed": indexed,
        "changes": changes,
        "busy_instr": busy,
        "busy_wall_s": busy_wall,
        "idle_instr_per_s": idle_rate,
        "idle_instr_per_s_before_after": [idle_before, idle_after],
        "net_per_change": (busy - idle_rate * busy_wall) / changes,
    }
    print(
        f"{name}: {res['net_per_change'] / 1e6:.3f} M instructions per change net of idle"
        f" (gross {busy / changes / 1e6:.3f} M, idle {idle_rate / 1e6:.2f} M/s, {indexed} resting)",
        file=sys.stderr,
        flush=True,
    )
    return res


async def main(args: argparse.Namespace) -> None:
    if not available():
        sys.exit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    log_dir = Path(tempfile.mkdtemp(prefix="oe-watcher-instr-"))
    a_code = ref_side(ROOT, args.a).code
    backing = Backing.start()
    sides = {"A": backing.for_code(a_code, "a"), "B": backing.for_code(EngineCode(), "b")}
    rounds = []
    try:
        for i in range(args.rounds):
            got = {}
            for label in ("A", "B") if i % 2 == 0 else ("B", "A"):
                got[label] = await side(
                    sides[label], log_dir, f"w{i + 1}{label.lower()}", args.resting, args.moves, args.pace_s
                )
            ratio = got["B"]["net_per_change"] / got["A"]["net_per_change"]
            rounds.append({"A": got["A"], "B": got["B"], "ratio": ratio})
            print(f"round {i + 1}: B ÷ A = {ratio:.3f}", file=sys.stderr, flush=True)
    finally:
        backing.stop()
    ratios = [r["ratio"] for r in rounds]
    result = {"a": args.a, "rounds": rounds, "ratios": ratios, "median": statistics.median(ratios)}
    print(f"B ÷ A per round {' '.join(f'{r:.3f}' for r in ratios)}, median {result['median']:.3f}", file=sys.stderr)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help="the git ref of side A (B is this working tree)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--resting", type=int, default=1_000, help="resting limit orders in the watcher's book")
    # Fewer than ~100 moves and the net is within the idle windows' difference (BENCHMARKS.md, fifth round).
    p.add_argument("--moves", type=int, default=100, help="moves per side (two pool changes each; keep ≥ 100)")
    p.add_argument("--pace-s", type=float, default=0.1, help="seconds between moves")
    p.add_argument("--out", type=Path, help="write the result (JSON) here instead of to stdout")
    asyncio.run(main(p.parse_args()))
