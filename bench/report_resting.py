"""The resting-orders and sniper scenarios in BENCHMARKS.md: their targets and their sections."""

from __future__ import annotations

from typing import Any


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    return _resting_targets(r) + _sniper_targets(r)


def _engine_rate(r: dict[str, Any]) -> float | None:
    """The engine's confirmed orders/s at the defaults (1 API + 1 worker × c10) in the same run, if measured."""
    for c in r.get("engine", {}).get("configs", []):
        if (c["apis"], c["workers"], c["concurrency"]) == (1, 1, 10):
            return float(c["orders_per_s"])
    return None


def _sniper_targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    x = r.get("snipers")
    if not x:
        return []
    s = x["launch_to_first_routing_ms"]
    rows: list[tuple[str, str, bool | None]] = [
        (
            f"launch → first sniper routing: median ≤ 20 ms, slowest ≤ 100 ms ({x['launches']} launches,"
            f" {x['backlog']:,} market orders queued)",
            f"median {s['p50']:.1f} ms, slowest {s['max']:.1f} ms (n={s['n']})",
            s["p50"] <= 20 and s["max"] <= 100 and s["n"] == x["launches"],
        )
    ]
    big = x.get("big_launch")
    if big and big.get("all_terminal_s") is not None:
        rate = _engine_rate(r)
        bound = 1.5 * big["snipers"] / rate if rate else None
        text = f"{big['terminal']:,} of {big['snipers']:,} terminal in {big['all_terminal_s']:.2f} s {big['statuses']}"
        if bound is not None:
            text += f"; bound 1.5 × {big['snipers']:,} / {rate:.0f} orders/s = {bound:.1f} s"
        rows.append(
            (
                f"all {big['snipers']:,} snipers of one launch terminal within 1.5 × N / engine orders/s",
                text,
                None if bound is None else big["terminal"] == big["snipers"] and big["all_terminal_s"] <= bound,
            )
        )
    return rows


def _resting_targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
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
    return _resting_section(r) + _sniper_section(r)


def _sniper_section(r: dict[str, Any]) -> str:
    x = r.get("snipers")
    if not x:
        return ""
    lines = [
        "## Snipers on launches\n",
        f"One API, one worker (market lane c10, sniper lane c8: the default, its snipers swapping in line), one watcher; the start-rate limit on (100 a minute)"
        f" and {x['backlog']:,} market orders POSTed first, so the market lane stays saturated throughout"
        f" ({x['market_backlog_done_during']} of them done by the end). Then {x['launches']} launches of a new token"
        f" (`POST /api/sim/launches`), the first with {x['big']:,} snipers waiting for it, the others with"
        f" {x['per_launch']}; launch → the first of them in `routing`, by the entries' own timestamps.\n",
        "| measure | value |",
        "|---|---|",
    ]
    for name, value, _ in _sniper_targets(r):
        lines.append(f"| {name} | {value} |")
    lines.append(
        f"| each launch → first routing (ms) | {', '.join(str(v) for v in x['launch_to_first_routing_each_ms'])} |"
    )
    return "\n".join(lines) + "\n\n"


def _resting_section(r: dict[str, Any]) -> str:
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
    for name, value, _ in _resting_targets(r):
        lines.append(f"| {name} | {value} |")
    return "\n".join(lines) + "\n\n"
