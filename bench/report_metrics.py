"""The cost of metrics in BENCHMARKS.md: its target row and its section (bench/scenarios/metrics_cost.py)."""

from __future__ import annotations

from typing import Any

LIMIT = 1.05  # metrics may add at most 5 % to the CPU per order of the API and of the worker


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    x = r.get("metrics_cost")
    if not x or x["median"]["worker_ms"] is None:
        return []
    api, worker = x["median"]["api_ms"], x["median"]["worker_ms"]
    counted = x.get("instructions") or {}
    if {"api", "worker"} <= counted.keys():  # the steadier measure decides
        a, w = counted["api"], counted["worker"]
        return [
            (
                "metrics add ≤ 5 % per order (API and worker instructions under callgrind, median of on ÷ off)",
                f"API {a['median']:.3f}×, worker {w['median']:.3f}× ({len(a['runs'])} rounds each); CPU time:"
                f" API {api:.3f}×, worker {worker:.3f}× ({x['pairs']} pairs of {x['batch']:,} orders)",
                a["median"] <= LIMIT and w["median"] <= LIMIT,
            )
        ]
    return [
        (
            "metrics add ≤ 5 % CPU per order (API and worker, median of on ÷ off pairs)",
            f"API {api:.3f}×, worker {worker:.3f}× ({x['pairs']} pairs of {x['batch']:,} orders)",
            api <= LIMIT and worker <= LIMIT,
        )
    ]


def section(r: dict[str, Any]) -> str:
    x = r.get("metrics_cost")
    if not x:
        return ""

    def spread(values: list[float]) -> str:
        return f"{min(values):.2f}–{max(values):.2f}" if values else "–"

    lines = [
        "## What metrics cost\n",
        "The engine at its defaults (1 API + 1 worker × c10, latency 0) with `ORDER_ENGINE_METRICS` off and on,"
        f" alternately, {x['pairs']} pair(s) of {x['batch']:,}-order batches, the same code and servers, every"
        " process writing to a multiprocess directory as `order-engine dev` runs them"
        " (`bench/scenarios/metrics_cost.py`). The target: at most 5 % more CPU per order in the API and in the"
        " worker.\n",
        "| pair | off: orders/s | on: orders/s | off: API ms | on: API ms | off: worker ms | on: worker ms | other CPU (off/on) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(x["runs"], 1):
        off, on = run["off"], run["on"]
        lines.append(
            f"| {i} | {off['orders_per_s']:.0f} | {on['orders_per_s']:.0f} | {off['api_ms']:.3f} | {on['api_ms']:.3f}"
            f" | {off['worker_ms']:.3f} | {on['worker_ms']:.3f} | {off['other_cpu_pct']:.0f} % / {on['other_cpu_pct']:.0f} % |"
        )
    m, ratios = x["median"], x["ratios"]
    lines += [
        "",
        f"On ÷ off, median (spread): throughput {m['orders_per_s']:.3f} ({spread(ratios['orders_per_s'])}), API CPU"
        f" per order {m['api_ms']:.3f} ({spread(ratios['api_ms'])}), worker CPU per order {m['worker_ms']:.3f}"
        f" ({spread(ratios['worker_ms'])}).\n",
    ]
    counted = x.get("instructions") or {}
    if counted:
        lines += [
            "Instructions per order of the whole process under callgrind (`bench/process_instructions.py`): an API and"
            " a worker, the one counted under `valgrind --tool=callgrind`, off and on alternately. After a warm-up"
            " the counters are zeroed for an idle window (the process's idle rate: timers, heartbeats, sweeps), then"
            " for a batch POSTed at a fixed rate the counted process keeps up with, so both sides' batches take the"
            " same wall time. Cost per order = the batch's instructions net of idle rate × wall time, plus the idle"
            " rate shared out over the orders a second the stack did at full speed in the pairs above"
            f" ({next(iter(counted.values()))['native_orders_per_s']:.0f}/s).\n",
            "| process | round | orders at /s | off: net M per order | on: net M per order | idle M/s off / on | on ÷ off |",
            "|---|---|---|---|---|---|---|",
        ]
        for role, c in counted.items():
            for i, run in enumerate(c["runs"], 1):
                off, on = run["off"], run["on"]
                lines.append(
                    f"| {role} | {i} | {c['orders']} at {c['rate']:g} | {off['net_per_order'] / 1e6:.2f}"
                    f" | {on['net_per_order'] / 1e6:.2f} | {off['idle_instr_per_s'] / 1e6:.1f} /"
                    f" {on['idle_instr_per_s'] / 1e6:.1f} | {run['ratio']:.3f} |"
                )
        lines.append("")
        medians = ", ".join(f"{role} {c['median']:.3f} ({spread(c['ratios'])})" for role, c in counted.items())
        lines += [f"On ÷ off, median (spread): {medians}.", ""]
    return "\n".join(lines) + "\n"
