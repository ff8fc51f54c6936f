"""`python -m bench [--quick] [--only accept,engine,…]`: run the benchmarks, print a table, write
BENCHMARKS.md and a chart. `python -m bench --ab <git-ref> [--pairs 3]`: compare a ref with the working tree.

A full run writes BENCHMARKS.md and bench/results/ (chart, results.json, profiles); a quick run
(smaller and shorter everything, no cost count, no profiles) or a subset (--only) writes under build/bench/
so it never overwrites the committed numbers. Logs of every process: build/bench/logs/.

With --ab, each selected scenario runs alternately on the ref (A, checked out under build/ab/) and on the
working tree (B), --pairs times, and the B/A ratios go to build/bench/ab-<time>.json and .md (bench/ab/).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from bench import baselines, ceiling, costs, profile, report
from bench.context import Context
from bench.scenarios import accept, engine, live, metrics_cost, realistic, resting, snipers
from bench.stack import ROOT, Backing

FULL = [
    "ceiling",
    "baselines",
    "accept",
    "engine",
    "realistic",
    "live",
    "resting",
    "snipers",
    "metrics_cost",
    "costs",
    "profile",
]
QUICK = ["ceiling", "baselines", "accept", "engine", "realistic", "live", "resting", "snipers", "metrics_cost"]


class _OtherCpu:
    """CPU used on the machine by anything that is not this benchmark or what it started."""

    def __init__(self, backing: Backing) -> None:
        self.backing = backing
        self.me = psutil.Process()
        self.t0, self.sys0, self.ours0 = time.monotonic(), psutil.cpu_times(), self._ours()

    def _ours(self) -> float:
        t = self.me.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system  # reaped children included
        procs = self.me.children(recursive=True)
        for group in self.backing.server_processes().values():
            procs += group
        seen = set()
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                c = p.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return total

    def pct(self) -> float:
        s1 = psutil.cpu_times()
        busy = sum(
            getattr(s1, f) - getattr(self.sys0, f) for f in ("user", "system", "nice", "irq", "softirq", "steal")
        )
        return max(0.0, (busy - (self._ours() - self.ours0)) / (time.monotonic() - self.t0) * 100)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    selected = args.only.split(",") if args.only else (QUICK if quick else FULL)
    unknown = set(selected) - set(FULL)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(FULL)}")
    # The committed results are a full run's: a quick run or a subset (--only) writes under build/bench/.
    partial = quick or bool(args.only)
    results_dir = Path(args.results_dir or (ROOT / ("build/bench/results" if partial else "bench/results")))
    log_dir = ROOT / "build/bench/logs"
    r: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "command": args.command_line,
        "started": report.started_now(),
        "machine": report.machine_info(),
        "load": {"start": [round(x, 2) for x in os.getloadavg()]},
        "scenario_seconds": {},
        "errors": {},
    }
    t0 = time.monotonic()
    backing = Backing.start()
    r["backing"] = "the servers of DATABASE_URL / REDIS_URL" if backing.embedded is None else "embedded, pgserver"
    ctx = Context(backing, log_dir, quick)
    other = _OtherCpu(backing)
    try:
        r["servers"] = await report.server_versions(backing.database_url, backing.redis_url)
        for name in selected:
            ctx.log(f"{name} …")
            started = time.monotonic()
            try:
                if name == "ceiling":
                    r["ceiling"] = await ceiling.measure(0.5 if quick else 2.0)
                    for c in r["ceiling"]:
                        ctx.log(f"  client ceiling {c['client']}: {c['rps']:,.0f} req/s")
                elif name == "baselines":
                    r["baselines"] = await baselines.run(ctx)
                elif name == "accept":
                    r["accept"] = await accept.run(ctx)
                elif name == "engine":
                    r["engine"] = await engine.run(ctx)
                elif name == "realistic":
                    r["realistic"] = await realistic.run(ctx)
                elif name == "live":
                    r["live"] = await live.run(ctx)
                elif name == "resting":
                    r["resting"] = await resting.run(ctx)
                elif name == "snipers":
                    r["snipers"] = await snipers.run(ctx)
                elif name == "metrics_cost":
                    r["metrics_cost"] = await metrics_cost.run(ctx)
                elif name == "costs":
                    r["costs"] = await costs.run(ctx)
                elif name == "profile":
                    knee = (r.get("accept") or {}).get("knee")
                    rate = 0.8 * knee["offered_rps"] if knee else 150.0
                    r["profile"] = await profile.run(ctx, results_dir / "profiles", rate)
                    r["profiles_dir"] = os.path.relpath(results_dir / "profiles", ROOT)
            except Exception as exc:  # one broken scenario must not lose the others' numbers
                r["errors"][name] = "".join(traceback.format_exception(exc))[-3000:]
                ctx.log(f"{name} FAILED: {exc!r} (see results.json)")
            finally:
                for stack in ctx.stacks:
                    stack.stop()
                ctx.stacks.clear()
            r["scenario_seconds"][name] = round(time.monotonic() - started, 1)
    finally:
        r["load"]["other_cpu_pct"] = other.pct()
        backing.stop()
    r["load"]["end"] = [round(x, 2) for x in os.getloadavg()]
    r["duration_s"] = time.monotonic() - t0
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(r, indent=1, default=str))
    md = Path(args.out) if args.out else ROOT / ("build/bench/BENCHMARKS.md" if partial else "BENCHMARKS.md")
    report.write(r, md, results_dir / "benchmarks.png")
    report.print_table(r)
    ctx.log(f"wrote {os.path.relpath(md, ROOT)}, {os.path.relpath(results_dir, ROOT)}/ ({r['duration_s']:.0f} s)")
    return r


def rewrite(args: argparse.Namespace) -> int:
    """Regenerate the report and chart from a saved results.json (after a change to report.py)."""
    results = Path(args.from_results)
    r = json.loads(results.read_text())
    md = (
        Path(args.out)
        if args.out
        else ROOT / ("build/bench/BENCHMARKS.md" if r["mode"] == "quick" else "BENCHMARKS.md")
    )
    if "accept" in r:  # the knee by the current rule
        r["accept"]["knee"] = accept.knee(r["accept"]["steps"])
        results.write_text(json.dumps(r, indent=1, default=str))
    report.write(r, md, results.parent / "benchmarks.png")
    report.print_table(r)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small and short: a smoke run in under a minute")
    p.add_argument("--only", help=f"comma-separated subset of: {','.join(FULL)}")
    p.add_argument("--out", help="where to write the Markdown report (default BENCHMARKS.md; quick: build/bench/)")
    p.add_argument("--results-dir", help="chart, results.json and profiles (default bench/results; quick: build/)")
    p.add_argument("--from-results", metavar="RESULTS_JSON", help="only rewrite the report from a saved results.json")
    p.add_argument(
        "--ab",
        metavar="GIT_REF",
        help="A/B: each scenario alternately on GIT_REF (A) and the working tree (B); see BENCHMARKS.md",
    )
    p.add_argument("--pairs", type=int, help="with --ab: A/B pairs per scenario (default 3)")
    p.add_argument(
        "--a-env",
        action="append",
        metavar="KEY=VALUE",
        help="with --ab: side A's processes also run with this setting (repeatable); e.g. `--ab HEAD --a-env"
        " ORDER_ENGINE_METRICS=false` measures what metrics cost",
    )
    args = p.parse_args(argv)
    if args.ab is not None:
        if args.out or args.results_dir or args.from_results:
            p.error("--ab writes build/bench/ab-<time>.json and .md: no --out, --results-dir or --from-results")
        args.pairs = 3 if args.pairs is None else args.pairs
        if args.pairs < 1:
            p.error("--pairs must be at least 1")
    elif args.pairs is not None or args.a_env:
        p.error("--pairs and --a-env need --ab")
    if args.from_results:
        return rewrite(args)
    args.command_line = "make bench" + (
        f" ARGS={shlex.quote(' '.join(argv or sys.argv[1:]))}" if (argv or sys.argv[1:]) else ""
    )
    from order_engine.app.runtime.logging import configure_logging

    configure_logging("WARNING", json=False)
    logging.getLogger("saq").setLevel(logging.CRITICAL)  # the in-process baseline workers' shutdown chatter
    import uvloop

    if args.ab is not None:
        from bench.ab.run import session
        from bench.ab.sides import AbError

        try:
            return uvloop.run(session(args, "python -m bench " + shlex.join(argv or sys.argv[1:])))
        except AbError as exc:
            raise SystemExit(f"python -m bench --ab: {exc}") from None
    r = uvloop.run(run(args))
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
