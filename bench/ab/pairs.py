"""Pure: the order of the runs and the B/A ratios of their numbers (median, spread, what they say)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def pair_order(pair: int) -> tuple[str, str]:
    """Which side runs first in pair `pair` (0-based): A B, B A, A B, … so a drift in the machine's load
    over the session favours neither side."""
    return ("A", "B") if pair % 2 == 0 else ("B", "A")


def schedule(scenarios: Sequence[str], pairs: int) -> list[tuple[str, int, str]]:
    """Every run as (scenario, pair, side), in the order they run: each scenario's pairs back to back."""
    return [(name, pair, side) for name in scenarios for pair in range(pairs) for side in pair_order(pair)]


def ratio(a: float | None, b: float | None) -> float | None:
    """B/A; None when either side has no number, or A is 0 and B is not (0/0 counts as equal)."""
    if a is None or b is None:
        return None
    if a == 0:
        return 1.0 if b == 0 else None
    return b / a


def reading(ratios: Sequence[float], better: str) -> str:
    """What the pairs agree on: B better (or worse) than A in every pair, else mixed. One pair always
    agrees with itself, so the count is part of the reading."""
    if not ratios:
        return "no pairs"
    n = len(ratios)
    if all(r == 1 for r in ratios):
        return f"equal in all {n}"
    up, down = all(r > 1 for r in ratios), all(r < 1 for r in ratios)
    if not (up or down):
        return "mixed"
    b_better = up if better == "higher" else down
    return f"B {'better' if b_better else 'worse'} in all {n}"


def compare(a: Sequence[float | None], b: Sequence[float | None], better: str) -> dict[str, object]:
    """One metric over the pairs: a[i] and b[i] are pair i's numbers. The median and spread are over the
    pairs where both sides have a number; `ratios` keeps a None for the others."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} A values but {len(b)} B values")
    ratios = [ratio(x, y) for x, y in zip(a, b, strict=True)]
    have = [r for r in ratios if r is not None]
    return {
        "a": list(a),
        "b": list(b),
        "a_median": _median(x for x in a if x is not None),
        "b_median": _median(y for y in b if y is not None),
        "ratios": ratios,
        "median": _median(have),
        "min": min(have) if have else None,
        "max": max(have) if have else None,
        "reading": reading(have, better),
    }


def _median(values: object) -> float | None:
    values = list(values)  # type: ignore[call-overload]
    return statistics.median(values) if values else None
