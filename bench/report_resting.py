"""The resting-orders scenario in BENCHMARKS.md: its targets and its section."""

from __future__ import annotations

from typing import Any


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    x = r.get("resting")
    if not x:
        return []
    rows: list[tuple[str, str, bool | None]] = []
    c = x["crossing"]
    if c.get("last_s") is not None:
        rows.append(
            (
                f"one move crossing {c['crossed']:,} of {x['resting']:,} resting → all triggered within 1 s",
                f"{c['triggered']:,} triggered, the last {c['last_s'] * 1000:.0f} ms after the move",
                c["triggered"] == c["crossed"] and c["last_s"] <= 1.0,
            )
        )
    s = x["single"]["move_to_triggered_ms"]
    rows.append(
        (
            f"move → triggered p99 ≤ 50 ms, one crossing order among {x['resting']:,}",
            f"p99 {s['p99']:.1f} ms, p50 {s['p50']:.1f} ms ({x['single']['triggered']} of {x['single']['repeats']})",
            x["single"]["triggered"] == x["single"]["repeats"] and s["p99"] <= 50,
        )
    )
    u = x["uneventful"]
    rows.append(
        (
            "watcher CPU per uneventful pool change ≤ 1 ms",
            f"{u['watcher_cpu_ms_per_change']:.3f} ms ({u['changes']} changes; idle {u['idle_cpu_ms_per_s']:.1f} ms/s"
            " subtracted)",
            u["watcher_cpu_ms_per_change"] <= 1.0,
        )
    )
    e = x["expiry"]
    if e.get("last_s") is not None:
        rows.append(
            (
                f"{e['orders']:,} orders expiring in one second all expired within 5 s",
                f"{e['expired']:,} expired, the last {e['last_s']:.2f} s after their expiry",
                e["expired"] == e["orders"] and e["last_s"] <= 5,
            )
        )
    b = x.get("rebuild")
    if b and b.get("rebuild_ms") is not None:
        rows.append(
            (
                "stretch: 100,000 resting rebuilt by a new watcher within 5 s",
                f"{b['resting']:,} rebuilt in {b['rebuild_ms'] / 1000:.2f} s (RSS {b['rss_mb']:.0f} MB)",
                b["rebuild_ms"] <= 5000,
            )
        )
    return rows


def section(r: dict[str, Any]) -> str:
    x = r.get("resting")
    if not x:
        return ""
    lines = [
        "## Resting limit orders and the watcher\n",
        "One API, one worker (c50) and one watcher; limits sell the base of 5 pairs (SOL/USDC, SOL/USDT, JUP/USDC,"
        " RAY/USDC, BONK/SOL), POSTed through the API; the market is moved through the pools as"
        " `POST /api/sim/market/move` does (every change lands on the events stream the watcher follows). Times of"
        " `triggered`/`expired` are the entries' own timestamps (the watcher's clock, same host).\n",
        "| measure | value |",
        "|---|---|",
        f"| resting orders | {x['resting']:,} (POSTed at {x['post_rps']:.0f}/s) |",
        f"| watcher memory per resting order | {x['rss_per_order_bytes']:.0f} B (RSS growth / orders) |",
    ]
    for name, value, _ in targets(r):
        lines.append(f"| {name} | {value} |")
    return "\n".join(lines) + "\n"
