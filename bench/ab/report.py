"""Pure: an A/B session's rows as a table for the terminal and as a Markdown section for BENCHMARKS.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HEADER = ["scenario", "metric", "better", "A", "B", "B/A per pair", "median B/A", "spread"]
NOTE = (
    "A and B: each side's median over the pairs. B/A > 1 means B's number is larger; `better` says which way"
    " is good, and `reading` whether every pair agrees. On this shared machine runs vary by ±30 %: read a"
    " median within ±10 % of 1, or a spread that straddles 1, as no difference."
)


def number(v: float | None) -> str:
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def times(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}"


def spread(row: Mapping[str, Any]) -> str:
    return "—" if row["min"] is None else f"{row['min']:.2f}–{row['max']:.2f}"


def cells(row: Mapping[str, Any]) -> list[str]:
    unit = f" ({row['unit']})" if row["unit"] else ""
    return [
        row["scenario"],
        row["name"] + unit,
        "↑" if row["better"] == "higher" else "↓",
        number(row["a_median"]),
        number(row["b_median"]),
        " ".join(times(r) for r in row["ratios"]),
        times(row["median"]),
        spread(row),
        row["reading"],
    ]


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Aligned columns for the terminal (numbers right-aligned)."""
    grid = [[*HEADER, "reading"], *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
    right = {3, 4, 5, 6, 7}

    def line(cols: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(grid[0]), "  ".join("-" * w for w in widths), *(line(c) for c in grid[1:])])


def side_line(label: str, side: Mapping[str, Any]) -> str:
    what = f"ref `{side['ref']}`" if label == "A" else "the working tree"
    dirty = " + uncommitted changes" if side.get("dirty") else ""
    env = "".join(f", with `{k}={v}`" for k, v in (side.get("env") or {}).items())
    return f"- **{label}**: `{side['sha'][:10]}`{dirty} {side['subject']} ({what}{env})"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


def noise(runs: Sequence[Mapping[str, Any]]) -> str:
    """Each run's share of the machine taken by others (the `other` CPU column), in run order."""
    parts = [f"{r['scenario']} {r['pair'] + 1}{r['side']} {_pct(r.get('other_cpu_pct'))}" for r in runs]
    return "Other CPU on the machine during each run (% of one core, mean of its windows): " + ", ".join(parts) + "."


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(doc: Mapping[str, Any]) -> str:
    """The session as one `###` section (for BENCHMARKS.md's Analysis): what ran where, the table, the failures."""
    a, b = doc["sides"]["A"], doc["sides"]["B"]
    pairs = doc["pairs"]
    load = doc.get("load") or {}
    lines = [
        f"### A/B: `{b['sha'][:10]}` (B) against `{a['sha'][:10]}` (A), {doc['date']}",
        "",
        f"Command: `{doc['command']}` — {doc['mode']} mode, {pairs} pair{'s' if pairs != 1 else ''}"
        f" (order {', '.join(doc['order'])}), {doc['seconds']:.0f} s.",
        f"CPU: {doc['cpu_model']} ({doc['cpus']} cores); load average {load.get('start')} at the start,"
        f" {load.get('end')} at the end.",
        "",
        side_line("A", a),
        side_line("B", b),
        "",
        "| " + " | ".join([*HEADER, "reading"]) + " |",
        "|" + "---|" * (len(HEADER) + 1),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in cells(r)) + " |" for r in doc["metrics"]]
    lines += ["", NOTE, "", noise(doc.get("runs") or [])]
    lines += ["", "Shared by both sides: " + "; ".join(doc["shared"]) + "."]
    if doc.get("errors"):
        lines += ["", "Failed runs (no ratio for their pair):", ""]
        lines += [
            f"- {e['scenario']} pair {e['pair'] + 1} side {e['side']}: {e['error'].strip().splitlines()[-1]}"
            for e in doc["errors"]
        ]
    return "\n".join(lines) + "\n"
