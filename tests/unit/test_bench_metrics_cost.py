"""The metrics-cost report: its target passes only when both the API's and the worker's median ratio are within
5 %, and its section shows every pair."""

from bench import report_metrics


def result(api_on: float, worker_on: float) -> dict:
    runs = [
        {"off": {"orders_per_s": 300, "api_ms": 0.70, "worker_ms": 2.60, "other_cpu_pct": 8},
         "on": {"orders_per_s": 295, "api_ms": api_on, "worker_ms": worker_on, "other_cpu_pct": 9}},
    ]  # fmt: skip
    ratios = {
        "orders_per_s": [295 / 300],
        "api_ms": [api_on / 0.70],
        "worker_ms": [worker_on / 2.60],
    }
    median = {k: v[0] for k, v in ratios.items()}
    return {"metrics_cost": {"pairs": 1, "batch": 1500, "runs": runs, "ratios": ratios, "median": median}}


def test_the_target_needs_both_processes_within_five_percent() -> None:
    [(what, measured, ok)] = report_metrics.targets(result(0.72, 2.70))
    assert ok is True and "API 1.029×, worker 1.038×" in measured and "5 %" in what
    [(_, _, worse)] = report_metrics.targets(result(0.72, 2.80))  # worker 1.077×
    assert worse is False
    assert report_metrics.targets({}) == []


def test_the_section_lists_every_pair_and_the_medians() -> None:
    text = report_metrics.section(result(0.72, 2.70))
    assert "| 1 | 300 | 295 | 0.700 | 0.720 | 2.600 | 2.700 | 8 % / 9 % |" in text
    assert "worker CPU per order 1.038 (1.04–1.04)" in text
