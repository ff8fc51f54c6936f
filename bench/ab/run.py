"""The A/B session: both sides' templates, every run in pair order, then the report (table, JSON, Markdown).

Both sides share this process (the bench driver: load clients, measuring, reporting), the interpreter with
its installed packages, and one PostgreSQL and Redis; each run gets a database copied from its side's
template (migrated by that side's own code) and a key prefix and queue name of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bench import costs, report
from bench.ab import pairs, sides
from bench.ab import report as ab_report
from bench.ab.metrics import compare_runs, other_cpu_pct
from bench.context import Context
from bench.scenarios import accept, engine, live, realistic, resting, snipers
from bench.stack import ROOT, Backing

SCENARIOS: dict[str, Callable[[Context], Awaitable[dict[str, Any]]]] = {
    "accept": accept.run,
    "engine": engine.run,
    "realistic": realistic.run,
    "live": live.run,
    "costs": costs.run,
    "snipers": snipers.run,
    "resting": resting.run,
}
QUICK = ["accept", "engine", "realistic", "live"]
FULL = [*QUICK, "costs"]  # snipers and resting (several minutes each) when asked for
AB_BATCH, AB_BATCH_QUICK = (
    1500,
    150,
)  # engine orders per batch, the same on both sides  # a quick run counts no costs, as without --ab
SHARED = [
    "the bench driver of the working tree (load clients, measuring, reporting; it creates the databases)",
    "this interpreter and its installed packages",
    "one PostgreSQL and one Redis server (a database, key prefix and queue name of their own per run)",
]


def selection(only: str | None, quick: bool) -> list[str]:
    if not only:
        return QUICK if quick else FULL
    chosen = only.split(",")
    other = [s for s in chosen if s not in SCENARIOS]
    if other:
        raise sides.AbError(
            f"no A/B for {', '.join(other)}: choose from {', '.join(SCENARIOS)} (the others run no engine"
            " process, or profile it)"
        )
    return chosen


async def session(args: argparse.Namespace, command: str) -> int:
    scenarios = selection(args.only, args.quick)
    a = sides.ref_side(ROOT, args.ab, sides.env_settings(getattr(args, "a_env", None)))
    b = sides.working_tree_side(ROOT)
    found = {s.label: sides.imports(s) for s in (a, b)}
    t0 = time.monotonic()
    doc: dict[str, Any] = {
        "kind": "ab",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "mode": "quick" if args.quick else "full",
        "pairs": args.pairs,
        "order": [" ".join(pairs.pair_order(i)) for i in range(args.pairs)],
        "scenarios": scenarios,
        "sides": {s.label: {**s.describe(ROOT), "imports": found[s.label]} for s in (a, b)},
        "shared": SHARED,
        "load": {"start": [round(x, 2) for x in os.getloadavg()]},
    }
    machine = report.machine_info()
    doc.update(cpu_model=machine["cpu_model"], cpus=machine["cpus"], machine=machine)
    log_dir = ROOT / "build/bench/logs/ab"
    runs: list[dict[str, Any]] = []
    backing = Backing.start()
    try:
        per_side = {}
        for side in (a, b):
            try:
                per_side[side.label] = backing.for_code(side.code, side.label.lower())
            except RuntimeError as exc:
                raise sides.AbError(f"side {side.label} ({side.sha[:10]}): {exc}") from exc
        for scenario, pair, label in pairs.schedule(scenarios, args.pairs):
            ctx = Context(per_side[label].scoped(str(pair + 1)), log_dir / f"{scenario}-{pair + 1}{label}", args.quick)
            ctx.started = t0
            ctx.fixed_batch = AB_BATCH_QUICK if args.quick else AB_BATCH
            side = a if label == "A" else b
            ctx.log(f"{scenario}, pair {pair + 1}, side {label} ({side.sha[:10]}) …")
            run: dict[str, Any] = {"scenario": scenario, "pair": pair, "side": label, "result": None, "error": None}
            started = time.monotonic()
            try:
                run["result"] = await SCENARIOS[scenario](ctx)
            except Exception as exc:  # one failed run must not lose the others
                run["error"] = "".join(traceback.format_exception(exc))[-3000:]
                ctx.log(f"{scenario} pair {pair + 1} side {label} FAILED: {exc!r} (see the JSON)")
            finally:
                for stack in ctx.stacks:
                    stack.stop()
            run["seconds"] = round(time.monotonic() - started, 1)
            run["other_cpu_pct"] = other_cpu_pct(run["result"])
            runs.append(run)
    finally:
        backing.stop()
    doc["load"]["end"] = [round(x, 2) for x in os.getloadavg()]
    doc["seconds"] = time.monotonic() - t0
    doc["metrics"] = compare_runs(runs, args.pairs)
    doc["errors"] = [{k: r[k] for k in ("scenario", "pair", "side", "error")} for r in runs if r["error"]]
    doc["runs"] = runs
    out = ROOT / "build/bench"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"ab-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str))
    stem.with_suffix(".md").write_text(ab_report.markdown(doc))
    print(f"A = {a.sha[:10]} {a.subject} ({a.ref})")
    print(f"B = {b.sha[:10]}{' + uncommitted changes' if b.dirty else ''} {b.subject} (working tree)")
    print(ab_report.table(doc["metrics"]))
    print(ab_report.noise(runs))
    for e in doc["errors"]:
        print(f"FAILED: {e['scenario']} pair {e['pair'] + 1} side {e['side']}")
    rel = os.path.relpath(stem, ROOT)
    print(f"wrote {rel}.json and {rel}.md ({doc['seconds']:.0f} s)")
    return 1 if doc["errors"] else 0
