"""The PNG chart of a run: throughput and latency against load (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import best_engine

# --- chart -----------------------------------------------------------------------------------


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle(f"order-engine benchmarks — {r['started'][:16]} UTC, {r['machine']['cpus']} cores ({r['mode']} run)")

    ax = axes[0][0]
    if "accept" in r:
        steps = r["accept"]["steps"]
        x = [s["offered_rps"] for s in steps]
        ax.plot(x, x, ":", color="grey", label="offered")
        ax.plot(x, [s["achieved_rps"] for s in steps], "o-", color="C0", label="achieved")
        ax.set_xlabel("offered POST /api/orders/execute per s")
        ax.set_ylabel("achieved per s")
        ax2 = ax.twinx()
        ax2.semilogy(x, [s["latency_ms"]["p50"] for s in steps], "s--", color="C1", label="p50 ms")
        ax2.semilogy(x, [s["latency_ms"]["p99"] for s in steps], "^--", color="C3", label="p99 ms")
        ax2.axhline(25, color="C3", lw=0.6, ls=":")
        ax2.set_ylabel("latency ms (log)")
        if r["accept"].get("knee"):
            ax.axvline(r["accept"]["knee"]["offered_rps"], color="green", lw=0.8, ls="--", label="knee")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.set_title("1. Accept path, one API process (open loop)")

    ax = axes[0][1]
    if "engine" in r:
        configs = r["engine"]["configs"]
        labels = [f"{c['apis']}A+{c['workers']}W\nc{c['concurrency']}" for c in configs]
        ax.bar(labels, [c["orders_per_s"] for c in configs], color="C0", label="orders/s confirmed")
        ax.axhline(300, color="C0", lw=0.6, ls=":", label="target 300/s")
        if r.get("baselines", {}).get("floor"):
            ax.axhline(r["baselines"]["floor"], color="green", lw=0.8, ls="--", label="bare floor")
        ax.set_ylabel("orders/s (POST → confirmed)")
        ax2 = ax.twinx()
        ax2.plot(labels, [c["latency_ms"]["p50"] for c in configs], "s--", color="C1", label="p50 ms")
        ax2.plot(labels, [c["latency_ms"]["p99"] for c in configs], "^--", color="C3", label="p99 ms")
        ax2.set_ylabel("submit → confirmed ms")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.set_title("2. Engine throughput, DEX latency 0")

    ax = axes[1][0]
    if "live" in r:
        rounds = r["live"]["rounds"]
        x = [x["subscribers"] for x in rounds]
        ax.loglog(x, [x["publish_to_client_ms"]["p50"] for x in rounds], "s-", color="C1", label="p50 publish→client")
        ax.loglog(x, [x["publish_to_client_ms"]["p99"] for x in rounds], "^-", color="C3", label="p99 publish→client")
        ax.loglog(x, [x["status_to_client_ms"]["p99"] for x in rounds], "v:", color="C4", label="p99 status ts→client")
        ax.plot([100, 5000], [10, 100], "kx", label="targets (p99)")
        ax.set_xlabel("concurrent WebSocket subscribers, one API process")
        ax.set_ylabel("ms (log)")
        ax.legend(fontsize=8)
    ax.set_title("4. Live updates: worker publish → WebSocket client")

    ax = axes[1][1]
    bars: list[tuple[str, float]] = []
    b = r.get("baselines", {})
    best = best_engine(r)
    if best:
        bars.append(("engine\n(best)", best["orders_per_s"]))
    for key, label in (("floor", "bare\nfloor"), ("sql_only", "SQL\nonly"), ("saq_noop", "SAQ\nnoop")):
        if key in b:
            bars.append((label, b[key]))
    if "publish_only" in b:
        bars.append(("4×PUBLISH\nonly", b["publish_only"]))
    acc = r.get("accept", {})
    if acc.get("knee"):
        bars.append(("accept\nknee/s", acc["knee"]["offered_rps"]))
    if acc.get("trivial_route"):
        bars.append(("trivial\nroute/s", acc["trivial_route"]["rps"]))
    if bars:
        ax.bar([x for x, _ in bars], [y for _, y in bars], color=["C0"] + ["C2"] * (len(bars) - 1))
        ax.set_yscale("log")
        ax.set_ylabel("orders/s (requests/s for the HTTP bars), log")
        for i, (_, y) in enumerate(bars):
            ax.text(i, y, f"{y:,.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_title("5. Engine against its baselines (same run)")

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
