"""The results as a table on stdout, BENCHMARKS.md, and a PNG chart (matplotlib)."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from bench import report_metrics, report_resting
from bench.ab.guide import GUIDE

PACKAGES = ["litestar", "uvicorn", "uvloop", "saq", "litestar-saq", "sqlalchemy", "advanced-alchemy", "asyncpg"]
PACKAGES += ["redis", "hiredis", "msgspec", "structlog", "aiohttp", "py-spy"]
ANALYSIS_BEGIN, ANALYSIS_END = "<!-- analysis:begin -->", "<!-- analysis:end -->"


# --- machine ---------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "git": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


async def server_versions(database_url: str, redis_url: str) -> dict[str, str]:
    import asyncpg
    from redis.asyncio import Redis

    from order_engine_embedded import plain_url

    conn = await asyncpg.connect(plain_url(database_url))
    try:
        pg = await conn.fetchval("show server_version")
        settings = {
            k: await conn.fetchval(f"show {k}")
            for k in ("max_connections", "shared_buffers", "fsync", "synchronous_commit")
        }
    finally:
        await conn.close()
    redis = Redis.from_url(redis_url)
    try:
        rv = (await redis.info("server"))["redis_version"]
    finally:
        await redis.aclose()
    return {"postgresql": pg, "redis": rv, **{f"pg {k}": v for k, v in settings.items()}}


# --- helpers ---------------------------------------------------------------------------------


def f0(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def f1(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def cpu_cell(cpu: dict[str, float]) -> str:
    keys = ["api", "worker", "postgres", "redis", "client", "other"]
    return " / ".join(f0(cpu.get(k)) for k in keys)


CPU_HEADER = "CPU % api / worker / pg / redis / client / other"


def best_engine(r: dict[str, Any]) -> dict[str, Any] | None:
    configs = r.get("engine", {}).get("configs", [])
    return max(configs, key=lambda c: c["orders_per_s"]) if configs else None


def engine_config(r: dict[str, Any], apis: int, workers: int, concurrency: int) -> dict[str, Any] | None:
    for c in r.get("engine", {}).get("configs", []):
        if (c["apis"], c["workers"], c["concurrency"]) == (apis, workers, concurrency):
            return c
    return None


def live_round(r: dict[str, Any], subscribers: int) -> dict[str, Any] | None:
    for x in r.get("live", {}).get("rounds", []):
        if x["subscribers"] == subscribers:
            return x
    return None


def bottleneck(c: dict[str, Any]) -> str:
    """Name what limits one engine configuration from its CPU use per process group."""
    cpu, per_api, per_worker = c["cpu_pct"], c["cpu_pct"]["api"] / c["apis"], c["cpu_pct"]["worker"] / c["workers"]
    if cpu["machine"] >= 175:
        busiest = max(("api", "worker", "postgres", "redis", "client", "other"), key=lambda k: cpu[k])
        return f"the machine's CPU (both cores busy; largest share: {busiest} {cpu[busiest]:.0f} %)"
    if per_worker >= 75:
        return f"the worker process's one core ({per_worker:.0f} % of a core: Python, one thread)"
    if per_api >= 75:
        return f"the API process's one core ({per_api:.0f} % of a core)"
    return "neither CPU: waiting on round trips"


# --- targets ---------------------------------------------------------------------------------


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    best = best_engine(r)
    floor = r.get("baselines", {}).get("floor")
    if best:
        rows.append(
            (
                "engine throughput ≥ 300 orders/s confirmed",
                f"{f0(best['orders_per_s'])} orders/s (best: {best['apis']} API + {best['workers']} worker"
                f" × c{best['concurrency']})",
                best["orders_per_s"] >= 300,
            )
        )
        if floor:
            ratio = best["orders_per_s"] / floor
            rows.append(
                (
                    "engine throughput ≥ 50 % of the bare floor",
                    f"{ratio:.0%} ({f0(best['orders_per_s'])} of {f0(floor)} orders/s)",
                    ratio >= 0.5,
                )
            )
    acc = r.get("accept")
    if acc:
        k = acc.get("knee")
        at_1000 = next((s for s in acc["steps"] if s["offered_rps"] == 1000), None)
        held = acc.get("sustained")
        if held:
            bad = sum(p > 25 for p in held["p99_per_second_ms"])
            ok = held["achieved_rps"] >= 0.95 * 1000 and held["latency_ms"]["p99"] <= 25 and not held["errors"]
            text = (
                f"held {f0(held['offered_rps'])}/s for {held['seconds']} s: {f0(held['achieved_rps'])}/s, p99"
                f" {f1(held['latency_ms']['p99'])} ms ({bad} of {len(held['p99_per_second_ms'])} one-second windows"
                " over 25 ms)"
            )
            if at_1000:
                text += f"; in the sweep's 3 s step p99 {f1(at_1000['latency_ms']['p99'])} ms"
        elif at_1000:
            ok = at_1000["achieved_rps"] >= 0.95 * 1000 and at_1000["latency_ms"]["p99"] <= 25
            text = f"at 1,000/s offered: {f0(at_1000['achieved_rps'])}/s, p99 {f1(at_1000['latency_ms']['p99'])} ms"
        else:
            ok, text = False, "1,000/s not reached (stopped past saturation)"
        if k:
            text += f"; knee {f0(k['offered_rps'])}/s (p95 {f1(k['latency_ms']['p95'])} ms)"
        rows.append(("accept path ≥ 1,000 POST/s with p99 ≤ 25 ms, one API process", text, ok))
    real = r.get("realistic")
    if real:
        p99 = real["phase_a"]["overhead_ms"]["p99"]
        rows.append(
            (
                "realistic engine overhead p99 ≤ 20 ms",
                f"p99 {f1(p99)} ms (p50 {f1(real['phase_a']['overhead_ms']['p50'])} ms)",
                p99 <= 20,
            )
        )
    for subs, limit in ((100, 10), (5000, 100)):
        x = live_round(r, subs)
        if x:
            p99 = x["publish_to_client_ms"]["p99"]
            text = (
                f"p99 {f1(p99)} ms publish→client ({f1(x['status_to_client_ms']['p99'])} ms from the status timestamp)"
            )
            complete = x.get("connected", subs) == subs and not x.get("unfinished_streams")
            if not complete:
                text = (
                    f"only {x['connected']:,} of {subs:,} connected within {f0(x['connect_s'])} s and"
                    f" {x['unfinished_streams']:,} streams unfinished; among those: " + text
                )
            rows.append((f"live updates p99 ≤ {limit} ms with {subs:,} subscribers", text, complete and p99 <= limit))
    rows.extend(report_resting.targets(r))
    rows.extend(report_metrics.targets(r))
    rounds = r.get("live", {}).get("rounds", [])
    if rounds:
        big = rounds[-1]
        rows.append(
            (
                "≤ 50 KB per idle WebSocket",
                f"{f1(big['kb_per_connection'])} KB ({big['subscribers']:,} connections)",
                big["kb_per_connection"] <= 50,
            )
        )
    return rows


# --- stdout ----------------------------------------------------------------------------------


def print_table(r: dict[str, Any]) -> None:
    print()
    print(f"{'target':<62} {'met':<4} achieved")
    for name, text, ok in targets(r):
        print(f"{name:<62} {'yes' if ok else 'NO':<4} {text}")
    if "accept" in r:
        print("\naccept path (POST /api/orders/execute, open loop, one API process)")
        print(f"{'offered/s':>10} {'achieved/s':>11} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for s in r["accept"]["steps"]:
            lat = s["latency_ms"]
            print(
                f"{s['offered_rps']:>10} {s['achieved_rps']:>11.1f} {lat['p50']:>8.1f} {lat['p95']:>8.1f}"
                f" {lat['p99']:>8.1f} {s['errors']:>7}"
            )
    if "engine" in r:
        print("\nengine throughput (latency scale 0)")
        print(f"{'config':<22} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8}  {CPU_HEADER}")
        for c in r["engine"]["configs"]:
            name = f"{c['apis']} api + {c['workers']} worker c{c['concurrency']}"
            lat = c["latency_ms"]
            print(
                f"{name:<22} {c['orders_per_s']:>9.1f} {lat['p50']:>8.0f} {lat['p99']:>8.0f}  {cpu_cell(c['cpu_pct'])}"
            )
    if "baselines" in r:
        b = r["baselines"]
        print(
            f"\nbaselines: floor {b['floor']:.0f} orders/s, SQL only {b['sql_only']:.0f}, 4×PUBLISH only"
            f" {b['publish_only']:.0f}, SAQ enqueue+noop {b['saq_noop']:.0f} jobs/s"
        )
    print()


# --- markdown --------------------------------------------------------------------------------


def markdown(r: dict[str, Any], chart_rel: str, previous: str | None) -> str:
    m, servers = r["machine"], r.get("servers", {})
    out: list[str] = []
    w = out.append
    w("# Benchmarks\n")
    w(
        f"Generated by `{r['command']}` ({r['mode']} run, {r['started'][:19]} UTC, {r['duration_s']:.0f} s,"
        f" commit `{m['git']}`{' + uncommitted changes' if m['git_dirty'] else ''}). Every number below comes from"
        " this one run; rerun `make bench` to regenerate this file (the Analysis section is kept).\n"
    )
    w("## Headline against the targets\n")
    w(table(["target", "achieved", "met"], [[n, t, "yes" if ok else "**no**"] for n, t, ok in targets(r)]))
    w("")
    if "engine" in r:
        one, two = engine_config(r, 1, 1, 50), engine_config(r, 2, 2, 50)
        if one and two:
            w(
                f"Scale-out (scenario 2, c50): 1 API + 1 worker {f0(one['orders_per_s'])} orders/s →"
                f" 2 API + 2 workers {f0(two['orders_per_s'])} orders/s ({two['orders_per_s'] / one['orders_per_s']:.2f}×)."
                f" First bottleneck at 1 + 1: {bottleneck(one)}; at 2 + 2: {bottleneck(two)}.\n"
            )
    w(f"![throughput and latency against load]({chart_rel})\n")

    w("## Machine, software and load\n")
    w(
        f"- {m['cpus']} cores ({m['cpu_model']}), {m['memory_gib']} GiB memory, Linux {m['kernel']}, Python"
        f" {m['python']}."
    )
    w(
        f"- PostgreSQL {servers.get('postgresql', '?')} ({r.get('backing', '?')}; fsync {servers.get('pg fsync')},"
        f" synchronous_commit {servers.get('pg synchronous_commit')}, shared_buffers"
        f" {servers.get('pg shared_buffers')}, max_connections {servers.get('pg max_connections')}),"
        f" Redis {servers.get('redis', '?')}."
    )
    w("- " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".")
    load = r.get("load", {})
    w(
        f"- Load: the machine is shared with other engineers' test runs. Load average {load.get('start')} at the start,"
        f" {load.get('end')} at the end; processes outside this benchmark used on average"
        f" {f0(load.get('other_cpu_pct'))} % of one core (of {m['cpus'] * 100} %) during the run, measured per"
        " scenario in the `other` CPU column below. Treat differences of ±20 % between runs as noise.\n"
    )

    w("## Method\n")
    w(f"Command: `{r['command']}`.\n")
    w(
        "`python -m bench` starts PostgreSQL and Redis (the embedded ones from `order_engine_embedded`, in a fresh"
        " temporary data dir, unless `DATABASE_URL` and `REDIS_URL` are set), runs `order-engine migrate`, and"
        " for each scenario starts real `order-engine api` / `order-engine worker` processes with the scenario's"
        " environment, as a user would. The load comes from this separate client process (asyncio on uvloop)."
        " Each scenario has its own queue name and key prefix. Every process runs with"
        " `ORDER_ENGINE_LOG_LEVEL=WARNING` (logging kept out of the numbers: INFO events are dropped before"
        " they are built; at INFO a worker writes ~7 lines per order and the API 1 per POST), `ORDER_ENGINE_API_RATE_LIMIT_PER_MIN=0` and"
        " `ORDER_ENGINE_RATE_LIMIT=0` (both limits off, except the start-rate limit in scenario 3),"
        " `ORDER_ENGINE_DEX_DRIFT_BPS=5` (so no order fails on slippage) and a DEX seed per scenario. The"
        f" embedded PostgreSQL gets `max_connections = {servers.get('pg max_connections')}` (two workers at"
        " concurrency 50 can open 200 pooled connections); everything else is the server defaults.\n"
    )
    w(
        "Latency percentiles are nearest-rank. HTTP latencies in the open-loop scenario run from each request's"
        " scheduled start (no coordinated omission). Order latencies come from the order's own `statusHistory`"
        " (read back through `GET /api/orders`): the `pending` timestamp is taken by the API before its INSERT, the"
        " `confirmed` one by the worker before its UPDATE. CPU columns are % of one core per process group"
        " (psutil), `other` = everything else on the machine.\n"
    )
    if "ceiling" in r:
        w(
            "**The load client's ceiling** (closed loop, 32 connections, against a do-nothing server in its own process):\n"
        )
        w(
            table(
                ["client", "requests/s", "p50 ms", "p99 ms"],
                [
                    [c["client"], f0(c["rps"]), f1(c["latency_ms"]["p50"]), f1(c["latency_ms"]["p99"])]
                    for c in r["ceiling"]
                ],
            )
        )
        w(
            "\nThe benchmark uses the raw asyncio client (`bench/client.py`), well above anything the service"
            " reaches below, so the client is not what is measured. The WebSockets of scenario 4 are"
            " `bench/wsclient.py` sockets: a frame is stamped as its bytes arrive and nothing else happens per"
            " frame (aiohttp's client, tried first, spent as much CPU per message as the server it measured).\n"
        )

    if "accept" in r:
        a = r["accept"]
        w("## 1. Accept path\n")
        w(
            f"POST /api/orders/execute, open loop, {a['step_s']:.0f} s per step, one API process, no worker running (the"
            " jobs pile up in the scenario's own queue; a draining worker would take the CPU the API needs on 2"
            " cores). Stops after the first step that achieves < 60 % of the offered rate.\n"
        )
        w(
            table(
                ["offered/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "errors", CPU_HEADER],
                [
                    [
                        f0(s["offered_rps"]),
                        f1(s["achieved_rps"]),
                        f1(s["latency_ms"]["p50"]),
                        f1(s["latency_ms"]["p95"]),
                        f1(s["latency_ms"]["p99"]),
                        str(s["errors"]),
                        cpu_cell(s["cpu_pct"]),
                    ]
                    for s in a["steps"]
                ],
            )
        )
        if a.get("knee"):
            k = a["knee"]
            w(
                f"\n**Knee: {f0(k['offered_rps'])} POST/s** — the highest offered rate served in full (≥ 95 %, no errors)"
                f" with p95 under 10× the lightest step's (here {f1(k['latency_ms']['p95'])} ms, p99"
                f" {f1(k['latency_ms']['p99'])} ms). Beyond it the API process is at its one core and requests queue.\n"
            )
        if a.get("sustained"):
            h = a["sustained"]
            lat = h["latency_ms"]
            w(
                f"**Held at {f0(h['offered_rps'])} POST/s for {h['seconds']} s** (after the sweep, same process):"
                f" {f1(h['achieved_rps'])}/s achieved, {h['errors']} errors, p50 {f1(lat['p50'])} / p95"
                f" {f1(lat['p95'])} / p99 {f1(lat['p99'])} / max {f1(lat['max'])} ms, API CPU {f0(h['cpu_pct']['api'])} %."
                " p99 of each one-second window: " + ", ".join(f1(p) for p in h["p99_per_second_ms"]) + " ms.\n"
            )
        if a.get("trivial_route"):
            t = a["trivial_route"]
            w(
                f"Trivial route on the same process (`GET /health/live`, closed loop, 32 connections):"
                f" **{f0(t['rps'])} req/s**, p50 {f1(t['latency_ms']['p50'])} ms, p99 {f1(t['latency_ms']['p99'])} ms.\n"
            )

    if "engine" in r:
        e = r["engine"]
        w("## 2. Engine throughput\n")
        w(
            f"`ORDER_ENGINE_DEX_LATENCY_SCALE=0`. Per configuration: a pilot batch of {e['pilot_orders']} orders"
            f" (warm-up, rate estimate), then N = min({e['max_orders_per_config']}, {e['target_seconds']} s at the"
            f" pilot's rate, at least {e['min_orders']}) orders (column N) — the issue's 2,000 when the engine is fast"
            " enough, fewer so a slow engine still finishes in bounded time — POSTed by 32 client connections as fast"
            " as the API takes them, round-robin over the API processes; orders/s = confirmed orders / (last"
            " `confirmed` − first `pending` timestamp).\n"
        )
        w(
            table(
                [
                    "APIs",
                    "workers × concurrency",
                    "orders/s",
                    "POST/s during",
                    "p50 ms",
                    "p99 ms",
                    "failed",
                    CPU_HEADER,
                ],
                [
                    [
                        str(c["apis"]),
                        f"{c['workers']} × {c['concurrency']}",
                        f"**{f1(c['orders_per_s'])}**",
                        f0(c["submit_rps"]),
                        f0(c["latency_ms"]["p50"]),
                        f0(c["latency_ms"]["p99"]),
                        str(c["failed"]),
                        cpu_cell(c["cpu_pct"]),
                    ]
                    for c in e["configs"]
                ],
            )
        )
        w("\nWhat limits each configuration (from its CPU column):\n")
        for c in e["configs"]:
            w(f"- {c['apis']} API + {c['workers']} worker × c{c['concurrency']}: {bottleneck(c)}.")
        w("")

    if "realistic" in r:
        x = r["realistic"]
        pa, pb = x["phase_a"], x["phase_b"]
        w("## 3. Realistic mode\n")
        w(
            f"Latency scale {x['latency_scale']}, worker concurrency {x['concurrency']}, start-rate limit"
            f" {x['limit']} per {x['window_s']} s (= {f0(x['limit_per_min'])}/min). Phase A: {x['phase_a']['rate']:g} orders/s"
            f" ({pa['orders']} orders, {pa['measured']} measured) — below the limit and the worker's capacity."
            " Overhead = submit→confirmed − (quoteMs + blockhashMs + the send's simulated 25–75 ms, recomputed from"
            " the seed + executionMs); a blockhash asked for beside the quotes counts only for what was left of it"
            " when they were in.\n"
        )
        rows = [
            ["submit → confirmed", *[f1(pa["total_ms"][q]) for q in ("p50", "p95", "p99")]],
            ["simulated DEX time", *[f1(pa["dex_ms"][q]) for q in ("p50", "p95", "p99")]],
            ["**engine overhead**", *[f"**{f1(pa['overhead_ms'][q])}**" for q in ("p50", "p95", "p99")]],
        ]
        labels = {
            "queued": "… queued: pending → attempt start",
            "route": "… route: read order, gather quotes (minus quoteMs)",
            "build": "… build: build the swap (minus the blockhash wait; a limit order's routing write + publish)",
            "send": "… send: the route + build write + publish, chain script (minus the send)",
            "confirm": "… confirm: after the execution window",
        }
        for k, label in labels.items():
            rows.append([label, *[f1(pa["stages_ms"][k][q]) for q in ("p50", "p95", "p99")]])
        w(table(["ms per order", "p50", "p95", "p99"], rows))
        if not x.get("blockhash_recorded", True):
            w(
                "\nThese orders carry no `blockhashMs`: the build step's simulated blockhash fetch (25–75 ms × latency"
                " scale) is inside `build` and the overhead above.\n"
            )
        w(
            f"\nPhase B offers {f0(pb['offered_per_min'])} orders/min for {pb['window'][1]} s, more than the limit."
            f" Counted over {pb['window'][1] - pb['window'][0]} s after the first window: **{f0(pb['starts_per_min'])}"
            f" attempt starts/min** and {f0(pb['confirmed_per_min'])} confirmations/min against the configured"
            f" {f0(x['limit_per_min'])}/min — the rate limit is the bottleneck and throughput equals it.\n"
        )

    if "live" in r:
        w("## 4. Live updates\n")
        w(
            "One API process; subscribers connect to `/api/orders/{id}/ws` (100 per order, the per-order cap) while"
            " the worker is paused, then the worker runs the orders at latency scale 1.0. `publish→client`:"
            " WebSocket arrival − arrival of the same publish at a bare Redis subscriber in the client process"
            " (the API's fan-out); `status→client`: WebSocket arrival − the status entry's timestamp (adds the"
            " worker's UPDATE, commit and publish). Memory: the API's RSS growth with all subscribers connected"
            " and idle, per connection.\n"
        )
        w(
            table(
                [
                    "subscribers (connected)",
                    "orders",
                    "messages (of expected)",
                    "publish→client p50 / p99 ms",
                    "status→client p50 / p99 ms",
                    "connect s",
                    "API CPU % while idle",
                    "API RSS MB before → idle",
                    "KB/connection",
                ],
                [
                    [
                        f"{x['subscribers']:,} ({x.get('connected', x['subscribers']):,})"
                        + (
                            f"; refused: {', '.join(f'{k} ×{v}' for k, v in x['refused'].items())}"
                            if x.get("refused")
                            else ""
                        ),
                        str(x["orders"]),
                        f"{x['messages']:,} ({x.get('expected_messages', x['messages']):,})",
                        f"{f1(x['publish_to_client_ms']['p50'])} / {f1(x['publish_to_client_ms']['p99'])}",
                        f"{f1(x['status_to_client_ms']['p50'])} / {f1(x['status_to_client_ms']['p99'])}",
                        f1(x["connect_s"]),
                        f0(x.get("idle_api_cpu_pct")),
                        f"{f0(x['rss_before_mb'])} → {f0(x['rss_idle_mb'])}",
                        f1(x["kb_per_connection"]),
                    ]
                    for x in r["live"]["rounds"]
                ],
            )
        )
        w(
            "\n(KB/connection is meaningful only for the largest round; one connection is within RSS noise. `API CPU %"
            " while idle`: the API process with every subscriber connected and no order moving — every 5 s one"
            " query re-checks the seq of every watched order (`app/live/streams.py`); measured over 5.5 s for"
            " rounds of ≥ 1,000 subscribers, 1 s otherwise. Connecting is capped at 30 s and delivery at 30 s, so a"
            " round the API cannot carry reports how far it got; `refused` counts subscribers closed before their"
            " snapshot, by close code.)\n"
        )

    if "resting" in r or "snipers" in r:
        w(report_resting.section(r))

    if "metrics_cost" in r:
        w(report_metrics.section(r))

    if "baselines" in r:
        b = r["baselines"]
        best = best_engine(r)
        w("## 5. Baselines\n")
        w(
            f"In the client process, uvloop, {b['concurrency']} orders in flight, {b['orders']} orders each, same"
            " PostgreSQL and Redis. The bare floor is one order's work with no framework: asyncpg running the"
            " repository's statements (1 INSERT … RETURNING, 4 guarded UPDATEs appending to the JSONB history;"
            " each its own implicit transaction), a raw SAQ enqueue with the engine's options whose job runs the 4"
            " UPDATEs and 4 PUBLISHes of a status-sized message. (The engine also reads the order once per job:"
            " one SELECT more than the floor.)\n"
        )
        rows = [
            ["bare floor (all of it)", f0(b["floor"]), f"{best['orders_per_s'] / b['floor']:.0%}" if best else "–"],
            [
                "SQL only (1 INSERT + 4 UPDATEs)",
                f0(b["sql_only"]),
                f"{best['orders_per_s'] / b['sql_only']:.0%}" if best else "–",
            ],
            [
                "SAQ enqueue + no-op job (jobs/s)",
                f0(b["saq_noop"]),
                f"{best['orders_per_s'] / b['saq_noop']:.0%}" if best else "–",
            ],
            [
                "4 × PUBLISH only",
                f0(b["publish_only"]),
                f"{best['orders_per_s'] / b['publish_only']:.0%}" if best else "–",
            ],
        ]
        acc = r.get("accept", {})
        if acc.get("trivial_route") and acc.get("knee"):
            rows.append(
                [
                    "trivial Litestar route GET /health/live (req/s)",
                    f0(acc["trivial_route"]["rps"]),
                    f"{acc['knee']['offered_rps'] / acc['trivial_route']['rps']:.0%} (accept knee)",
                ]
            )
        w(table(["baseline", "per s", "engine as a share of it"], rows))
        w("")

    if "costs" in r:
        c = r["costs"]
        w("## Cost per order (counted)\n")
        w(
            f"A separate measurement run of {c['orders']} orders (latency scale 0, worker concurrency 10): each engine"
            " process reaches PostgreSQL through its own counting proxy (`bench/pgproxy.py`: round trips ="
            " ReadyForQuery messages, statements = Query + Execute messages by first keyword) and runs under"
            " `bench/instrumented.py` (every msgspec / json encode and decode, by calling file); Redis commands are"
            " `INFO commandstats` deltas (all clients), WAL bytes the movement of `pg_current_wal_lsn()`. The accept"
            " half is measured with the worker paused, the execute half after it resumes; each has the background"
            " of an idle window subtracted (fractions are background that did not cancel exactly).\n"
        )
        acc, exe = c["accept"], c["execute"]
        w(
            table(
                ["per order", "accept (API: POST)", "execute (worker: pending → confirmed)"],
                [
                    [
                        "PostgreSQL round trips",
                        f1(acc["api sql"].get("round_trips", 0)),
                        f1(exe["worker sql"].get("round_trips", 0)),
                    ],
                    [
                        "SQL statements",
                        _detail(acc["api sql"], "stmt "),
                        _detail(exe["worker sql"], "stmt "),
                    ],
                    [
                        "statements prepared",
                        f1(acc["api sql"].get("parses", 0)),
                        f1(exe["worker sql"].get("parses", 0)),
                    ],
                    ["Redis commands", _detail(acc["redis"], ""), _detail(exe["redis"], "")],
                    ["JSON encodes", _detail(acc["api json"], "encode "), _detail(exe["worker json"], "encode ")],
                    ["JSON decodes", _detail(acc["api json"], "decode "), _detail(exe["worker json"], "decode ")],
                    ["WAL bytes", f0(acc["wal"].get("bytes", 0)), f0(exe["wal"].get("bytes", 0))],
                ],
            )
        )
        w(
            "\nThe mock chain's Lua script also does a cjson decode + encode inside Redis per order (not counted"
            " above). Background while idle, per second: "
            + "; ".join(f"{k}: " + ", ".join(f"{n} {v}" for n, v in d.items()) for k, d in c["idle_per_s"].items() if d)
            + ".\n"
        )

    if "profile" in r:
        p = r["profile"]
        w("## Profiles\n")
        w(
            f"py-spy, {p['rate_hz']} Hz, {p['seconds']} s each, `--nonblocking`, in runs of their own after the"
            " measured ones: the worker and the API during an engine batch (latency 0, one worker × c10), and the"
            f" API under {f0(p['rate'])} POST/s open loop. Collapsed stacks are in `{r['profiles_dir']}/` (open them"
            " in speedscope.app). Shares are of the process's on-CPU samples; `inclusive` leaves out the event loop"
            " and process entry frames.\n"
        )
        for name, title in (
            ("worker", "Worker (engine batch)"),
            ("api_engine", "API (engine batch: POSTs and list reads)"),
            ("api_accept", "API (accept path)"),
        ):
            s = p[name]
            w(f"**{title}** — {s['samples']} samples, on CPU {f0(s['cpu_pct'])} % of the time.\n")
            w(
                table(
                    ["self, by package", "%", "inclusive, by package", "%"],
                    [
                        [
                            *(list(s["self_by_package"][i]) if i < len(s["self_by_package"]) else ["", ""]),
                            *(list(s["inclusive_by_package"][i]) if i < len(s["inclusive_by_package"]) else ["", ""]),
                        ]
                        for i in range(10)
                    ],
                )
            )
            w("")
            w(
                table(
                    ["top functions, self", "%", "engine functions, inclusive", "%"],
                    [
                        [
                            *(_code(s["self_functions"], i)),
                            *(_code(s["engine_functions"], i)),
                        ]
                        for i in range(12)
                    ],
                )
            )
            w("")

    w(GUIDE)
    w("## Analysis\n")
    w(previous or f"{ANALYSIS_BEGIN}\n(to be written from the numbers above)\n{ANALYSIS_END}")
    w("")
    return "\n".join(out)


def _code(rows: list[Any], i: int) -> list[str]:
    if i >= len(rows):
        return ["", ""]
    name, share = rows[i]
    return [f"`{name}`", str(share)]


def _detail(counts: dict[str, float], prefix: str) -> str:
    items = [(k[len(prefix) :], v) for k, v in counts.items() if k.startswith(prefix) and v >= 0.05]
    if prefix == "":
        total = sum(v for _, v in items)
        return f"**{f1(total)}**: " + ", ".join(f"{k} {v:g}" for k, v in items[:12])
    total = sum(v for _, v in items)
    return f"**{f1(total)}**: " + ", ".join(f"{k} {v:g}" for k, v in items)


def write(r: dict[str, Any], md_path: Path, chart_path: Path) -> None:
    previous = None
    if md_path.exists():
        text = md_path.read_text()
        if ANALYSIS_BEGIN in text and ANALYSIS_END in text:
            previous = text[text.index(ANALYSIS_BEGIN) : text.index(ANALYSIS_END) + len(ANALYSIS_END)]
    from bench.chart import chart

    chart(r, chart_path)
    rel = os.path.relpath(chart_path, md_path.parent)
    md_path.write_text(markdown(r, rel, previous))


def started_now() -> str:
    return datetime.now(UTC).isoformat()
