"""Pure: the numbers of each scenario's result that an A/B compares, and the comparison of every run.

Per scenario (where it measures them): throughput, accept-path latency, and CPU milliseconds per order
(per request on the accept path) of the API and worker process groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.ab.pairs import compare


@dataclass(frozen=True)
class Metric:
    scenario: str
    name: str
    unit: str
    better: str  # "higher" or "lower"


def accept_rate(results: Iterable[Mapping[str, Any]]) -> float | None:
    """The accept step every run is read at, the same for all so A and B see the same load: the lowest
    knee of the runs (each run served every step up to its knee in full, with a p95 under 10× its lightest
    step's; see bench.scenarios.accept.knee), else the lowest rate that every run reached."""
    results = list(results)
    knees = [(r.get("knee") or {}).get("offered_rps") for r in results]
    if knees and None not in knees:
        return min(knees)  # type: ignore[type-var]
    reached: set[float] | None = None
    for r in results:
        rates = {s["offered_rps"] for s in r.get("steps") or []}
        reached = rates if reached is None else reached & rates
    return min(reached) if reached else None


def _engine(result: Mapping[str, Any]) -> dict[Metric, float | None]:
    out: dict[Metric, float | None] = {}
    for c in result.get("configs", []):
        label = f"{c['apis']} api + {c['workers']} worker × c{c['concurrency']}"
        cpu = c.get("cpu_ms_per_order") or {}
        out[Metric("engine", f"throughput, {label}", "orders/s", "higher")] = c.get("orders_per_s")
        out[Metric("engine", f"api CPU per order, {label}", "ms", "lower")] = cpu.get("api")
        out[Metric("engine", f"worker CPU per order, {label}", "ms", "lower")] = cpu.get("worker")
    return out


def _accept(result: Mapping[str, Any], rate: float | None) -> dict[Metric, float | None]:
    out: dict[Metric, float | None] = {}
    step = next((s for s in result.get("steps", []) if s["offered_rps"] == rate), None)
    if rate is not None:
        at = f"at {rate:g}/s"
        lat = (step or {}).get("latency_ms") or {}
        out[Metric("accept", f"p50 {at}", "ms", "lower")] = lat.get("p50")
        out[Metric("accept", f"p99 {at}", "ms", "lower")] = lat.get("p99")
        cpu = (step or {}).get("cpu_ms_per_request") or {}
        out[Metric("accept", f"api CPU per request {at}", "ms", "lower")] = cpu.get("api")
    knee = result.get("knee")
    out[Metric("accept", "knee", "POST/s", "higher")] = knee["offered_rps"] if knee else None
    held = result.get("sustained")
    if held:
        at = f"held {held['offered_rps']:g}/s"
        out[Metric("accept", f"p50 {at}", "ms", "lower")] = held["latency_ms"]["p50"]
        out[Metric("accept", f"p99 {at}", "ms", "lower")] = held["latency_ms"]["p99"]
        out[Metric("accept", f"api CPU per request {at}", "ms", "lower")] = (held.get("cpu_ms_per_request") or {}).get(
            "api"
        )
    return out


def _realistic(result: Mapping[str, Any]) -> dict[Metric, float | None]:
    over = result["phase_a"]["overhead_ms"]
    return {
        Metric("realistic", "engine overhead p50", "ms", "lower"): over.get("p50"),
        Metric("realistic", "engine overhead p99", "ms", "lower"): over.get("p99"),
    }


def _live(result: Mapping[str, Any]) -> dict[Metric, float | None]:
    out: dict[Metric, float | None] = {}
    for r in result.get("rounds", []):
        if r["subscribers"] < 100:  # a handful of messages: no percentile to speak of
            continue
        n, lat = r["subscribers"], r["publish_to_client_ms"]
        out[Metric("live", f"publish→client p50, {n} subscribers", "ms", "lower")] = lat.get("p50")
        out[Metric("live", f"publish→client p99, {n} subscribers", "ms", "lower")] = lat.get("p99")
        # From the status entry's own timestamp (the worker's, before its write): what a client waits for a
        # status, commit and publish included; two statuses written together share one publish.
        whole = r.get("status_to_client_ms", {})
        out[Metric("live", f"status→client p50, {n} subscribers", "ms", "lower")] = whole.get("p50")
        out[Metric("live", f"status→client p99, {n} subscribers", "ms", "lower")] = whole.get("p99")
        out[Metric("live", f"memory per idle WebSocket, {n}", "KB", "lower")] = r.get("kb_per_connection")
    return out


def _costs(result: Mapping[str, Any]) -> dict[Metric, float | None]:
    accept, execute = result["accept"], result["execute"]
    return {
        Metric("costs", "api PostgreSQL round trips per order", "", "lower"): accept["api sql"].get("round_trips"),
        Metric("costs", "worker PostgreSQL round trips per order", "", "lower"): execute["worker sql"].get(
            "round_trips"
        ),
        Metric("costs", "Redis commands per order", "", "lower"): sum(accept["redis"].values())
        + sum(execute["redis"].values()),
    }


def _snipers(result: Mapping[str, Any]) -> dict[Metric, float | None]:
    big, first = result.get("big_launch") or {}, result.get("launch_to_first_routing_ms") or {}
    return {
        Metric("snipers", "one launch's snipers all terminal", "s", "lower"): big.get("all_terminal_s"),
        Metric("snipers", "launch → first sniper routing, median", "ms", "lower"): first.get("p50"),
        Metric("snipers", "launch → first sniper routing, slowest", "ms", "lower"): first.get("max"),
    }


def _resting(result: Mapping[str, Any]) -> dict[Metric, float | None]:
    single = (result.get("single") or {}).get("move_to_triggered_ms") or {}
    crossing, expiry = result.get("crossing") or {}, result.get("expiry") or {}
    quiet = result.get("uneventful") or {}
    return {
        Metric("resting", "move → triggered p50 (one limit among the resting)", "ms", "lower"): single.get("p50"),
        Metric("resting", "move → triggered p99", "ms", "lower"): single.get("p99"),
        Metric("resting", "move crossing a tenth → last triggered", "s", "lower"): crossing.get("last_s"),
        Metric("resting", "expiry second → last expired", "s", "lower"): expiry.get("last_s"),
        Metric("resting", "watcher CPU per uneventful change", "ms", "lower"): quiet.get("watcher_cpu_ms_per_change"),
    }


def extract(scenario: str, result: Mapping[str, Any], accept_at: float | None = None) -> dict[Metric, float | None]:
    """The compared numbers of one run's result (`accept_at`: the accept step to read, see accept_rate)."""
    if scenario == "engine":
        return _engine(result)
    if scenario == "accept":
        return _accept(result, accept_at)
    if scenario == "realistic":
        return _realistic(result)
    if scenario == "live":
        return _live(result)
    if scenario == "costs":
        return _costs(result)
    if scenario == "snipers":
        return _snipers(result)
    if scenario == "resting":
        return _resting(result)
    raise ValueError(f"no A/B metrics for scenario {scenario!r}")


def compare_runs(runs: Sequence[Mapping[str, Any]], pairs: int) -> list[dict[str, Any]]:
    """One row per scenario and metric, in the order first seen: each pair's A and B number, the B/A
    ratios, their median and spread. `runs` holds dicts with scenario, pair (0-based), side ("A"/"B")
    and result (None if that run failed: its pair then has no ratio for that scenario)."""
    rows: list[dict[str, Any]] = []
    for scenario in dict.fromkeys(r["scenario"] for r in runs):
        mine = [r for r in runs if r["scenario"] == scenario]
        ok = [r["result"] for r in mine if r.get("result") is not None]
        at = accept_rate(ok) if scenario == "accept" else None
        values: dict[tuple[int, str], dict[Metric, float | None]] = {}
        for r in mine:
            if r.get("result") is not None:
                values[(r["pair"], r["side"])] = extract(scenario, r["result"], at)
        metrics = dict.fromkeys(m for v in values.values() for m in v)
        for m in metrics:
            a = [values.get((i, "A"), {}).get(m) for i in range(pairs)]
            b = [values.get((i, "B"), {}).get(m) for i in range(pairs)]
            rows.append({**asdict(m), **compare(a, b, m.better)})
    return rows


def other_cpu_pct(result: Any) -> float | None:
    """The machine's CPU outside this benchmark (the `other` column, % of one core) averaged over every
    CPU window a result measured: how noisy the machine was during that run. None if it measured none."""
    found: list[float] = []

    def walk(x: Any) -> None:
        if isinstance(x, Mapping):
            cpu = x.get("cpu_pct")
            if isinstance(cpu, Mapping) and "other" in cpu:
                found.append(cpu["other"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(result)
    return sum(found) / len(found) if found else None
