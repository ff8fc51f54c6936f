"""The pure parts of `python -m bench --ab`: run order, B/A maths, metric extraction, the report; and the
git side (a missing ref, the worktree) against a throw-away repository."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.ab import report
from bench.ab.metrics import Metric, accept_rate, compare_runs, extract, other_cpu_pct
from bench.ab.pairs import compare, pair_order, ratio, reading, schedule
from bench.ab.run import selection


def test_pairs_alternate_which_side_runs_first() -> None:
    assert [pair_order(i) for i in range(4)] == [("A", "B"), ("B", "A"), ("A", "B"), ("B", "A")]


def test_schedule_runs_each_scenarios_pairs_back_to_back() -> None:
    assert schedule(["engine", "accept"], 2) == [
        ("engine", 0, "A"),
        ("engine", 0, "B"),
        ("engine", 1, "B"),
        ("engine", 1, "A"),
        ("accept", 0, "A"),
        ("accept", 0, "B"),
        ("accept", 1, "B"),
        ("accept", 1, "A"),
    ]


def test_ratio_is_b_over_a_and_none_without_both_numbers() -> None:
    assert ratio(200.0, 250.0) == 1.25
    assert ratio(None, 1.0) is None and ratio(1.0, None) is None
    assert ratio(0.0, 0.0) == 1.0
    assert ratio(0.0, 5.0) is None


def test_compare_gives_each_pairs_ratio_their_median_and_spread() -> None:
    row = compare([100.0, 110.0, 90.0], [120.0, 99.0, 99.0], "higher")
    assert row["ratios"] == pytest.approx([1.2, 0.9, 1.1])
    assert row["median"] == pytest.approx(1.1)
    assert (row["min"], row["max"]) == pytest.approx((0.9, 1.2))
    assert (row["a_median"], row["b_median"]) == (100.0, 99.0)
    assert row["reading"] == "mixed"


def test_median_of_an_even_number_of_pairs_is_the_mean_of_the_middle_two() -> None:
    assert compare([1.0, 1.0], [1.0, 1.2], "higher")["median"] == pytest.approx(1.1)


def test_a_pair_missing_a_number_keeps_its_place_but_not_in_the_median() -> None:
    row = compare([100.0, None, 100.0], [50.0, 60.0, 70.0], "higher")
    assert row["ratios"] == [0.5, None, 0.7]
    assert row["median"] == pytest.approx(0.6)
    assert row["b_median"] == 60.0
    assert row["reading"] == "B worse in all 2"
    with pytest.raises(ValueError):
        compare([1.0], [1.0, 2.0], "higher")


def test_reading_follows_which_way_is_better() -> None:
    assert reading([0.8, 0.9, 0.95], "lower") == "B better in all 3"
    assert reading([0.8, 0.9, 0.95], "higher") == "B worse in all 3"
    assert reading([1.1], "lower") == "B worse in all 1"
    assert reading([1.0, 1.0], "higher") == "equal in all 2"
    assert reading([1.0, 1.1], "higher") == "mixed"
    assert reading([], "higher") == "no pairs"


def _engine(orders_per_s: float, worker_ms: float) -> dict[str, Any]:
    config = {"apis": 1, "workers": 2, "concurrency": 10, "orders_per_s": orders_per_s}
    config["cpu_ms_per_order"] = {"api": 0.5, "worker": worker_ms}
    config["cpu_pct"] = {"api": 10.0, "other": 30.0}
    return {"configs": [config]}


def test_engine_metrics_are_throughput_and_cpu_per_order_per_configuration() -> None:
    got = extract("engine", _engine(300.0, 3.0))
    label = "1 api + 2 worker × c10"
    assert got == {
        Metric("engine", f"throughput, {label}", "orders/s", "higher"): 300.0,
        Metric("engine", f"api CPU per order, {label}", "ms", "lower"): 0.5,
        Metric("engine", f"worker CPU per order, {label}", "ms", "lower"): 3.0,
    }


def test_resting_metrics_are_trigger_latency_crossing_expiry_and_watcher_cpu() -> None:
    result = {
        "single": {"move_to_triggered_ms": {"p50": 1.2, "p99": 3.4}},
        "crossing": {"last_s": 0.8},
        "expiry": {"last_s": 1.5},
        "uneventful": {"watcher_cpu_ms_per_change": 0.05},
    }
    got = {m.name: v for m, v in extract("resting", result).items()}
    assert got == {
        "move → triggered p50 (one limit among the resting)": 1.2,
        "move → triggered p99": 3.4,
        "move crossing a tenth → last triggered": 0.8,
        "expiry second → last expired": 1.5,
        "watcher CPU per uneventful change": 0.05,
    }
    assert {m.better for m in extract("resting", result)} == {"lower"}


def test_the_default_selection_leaves_the_long_scenarios_to_be_asked_for() -> None:
    assert selection(None, quick=False) == ["accept", "engine", "realistic", "live", "costs"]
    assert selection(None, quick=True) == ["accept", "engine", "realistic", "live"]
    assert selection("resting,snipers", quick=False) == ["resting", "snipers"]


def _accept(knee: float | None, *rates: float) -> dict[str, Any]:
    steps = [
        {
            "offered_rps": r,
            "achieved_rps": r,
            "errors": 0,
            "latency_ms": {"p50": r / 100, "p99": r / 10},
            "cpu_ms_per_request": {"api": 0.7},
            "cpu_pct": {"other": 10.0},
        }
        for r in rates
    ]
    return {"steps": steps, "knee": {"offered_rps": knee} if knee else None, "sustained": None}


def test_accept_is_read_at_the_lowest_knee_of_all_runs_else_the_lowest_common_rate() -> None:
    assert accept_rate([_accept(500, 50, 200, 500), _accept(200, 50, 200, 500)]) == 200
    assert accept_rate([_accept(500, 50, 200, 500), _accept(None, 50, 200)]) == 50
    assert accept_rate([]) is None
    got = extract("accept", _accept(500, 50, 200, 500), accept_at=200)
    assert got[Metric("accept", "p99 at 200/s", "ms", "lower")] == 20.0
    assert got[Metric("accept", "api CPU per request at 200/s", "ms", "lower")] == 0.7
    assert got[Metric("accept", "knee", "POST/s", "higher")] == 500


def test_compare_runs_pairs_a_with_b_and_a_failed_run_leaves_its_pair_without_a_ratio() -> None:
    runs = [
        {"scenario": "engine", "pair": 0, "side": "A", "result": _engine(200.0, 4.0)},
        {"scenario": "engine", "pair": 0, "side": "B", "result": _engine(300.0, 3.0)},
        {"scenario": "engine", "pair": 1, "side": "B", "result": None},
        {"scenario": "engine", "pair": 1, "side": "A", "result": _engine(250.0, 4.0)},
    ]
    rows = compare_runs(runs, 2)
    assert [r["name"] for r in rows] == [
        "throughput, 1 api + 2 worker × c10",
        "api CPU per order, 1 api + 2 worker × c10",
        "worker CPU per order, 1 api + 2 worker × c10",
    ]
    throughput, worker = rows[0], rows[2]
    assert throughput["a"] == [200.0, 250.0] and throughput["b"] == [300.0, None]
    assert throughput["ratios"] == [1.5, None] and throughput["median"] == 1.5
    assert worker["ratios"] == [0.75, None] and worker["reading"] == "B better in all 1"


def test_other_cpu_is_the_mean_of_every_cpu_window_in_a_result() -> None:
    result = {"configs": [{"cpu_pct": {"other": 10.0}}, {"cpu_pct": {"other": 30.0}}], "x": {"cpu_pct": {}}}
    assert other_cpu_pct(result) == 20.0
    assert other_cpu_pct({"orders": 3}) is None


def _doc() -> dict[str, Any]:
    row = {"scenario": "engine", "name": "throughput | c10", "unit": "orders/s", "better": "higher"}
    row.update(compare([100.0, 110.0], [120.0, 99.0], "higher"))
    return {
        "date": "2026-12-02 10:00 UTC",
        "command": "python -m bench --ab HEAD~3 --pairs 2",
        "mode": "quick",
        "pairs": 2,
        "order": ["A B", "B A"],
        "seconds": 42.0,
        "cpu_model": "Some CPU @ 2.0GHz",
        "cpus": 2,
        "load": {"start": [0.5, 0.4, 0.3], "end": [0.6, 0.5, 0.4]},
        "sides": {
            "A": {"ref": "HEAD~3", "sha": "a" * 40, "subject": "Old engine", "dirty": False},
            "B": {"ref": "working tree", "sha": "b" * 40, "subject": "New engine", "dirty": True},
        },
        "shared": ["the driver"],
        "metrics": [row],
        "runs": [
            {"scenario": "engine", "pair": 0, "side": "A", "other_cpu_pct": 12.4},
            {"scenario": "engine", "pair": 0, "side": "B", "other_cpu_pct": None},
        ],
        "errors": [{"scenario": "engine", "pair": 1, "side": "B", "error": "Traceback\nRuntimeError: boom\n"}],
    }


def test_number_formats_by_magnitude() -> None:
    assert [report.number(v) for v in (1234.5, 123.4, 12.34, 1.234, None)] == ["1,234", "123", "12.3", "1.23", "—"]


def test_table_aligns_every_column_and_shows_ratios_median_and_spread() -> None:
    lines = report.table(_doc()["metrics"]).splitlines()
    assert lines[0].split() == [*report.HEADER[:5], "B/A", "per", "pair", "median", "B/A", "spread", "reading"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split()[-8:] == ["↑", "105", "110", "1.20", "0.90", "1.05", "0.90–1.20", "mixed"]
    assert lines[0].index("spread") + len("spread") == lines[2].index("0.90–1.20") + len("0.90–1.20")


def test_markdown_names_both_commits_the_machine_the_command_and_the_failures() -> None:
    md = report.markdown(_doc())
    assert md.startswith(f"### A/B: `{'b' * 10}` (B) against `{'a' * 10}` (A), 2026-12-02 10:00 UTC\n")
    assert "`python -m bench --ab HEAD~3 --pairs 2`" in md and "order A B, B A" in md
    assert "Some CPU @ 2.0GHz (2 cores)" in md
    assert f"- **A**: `{'a' * 10}` Old engine (ref `HEAD~3`)" in md
    assert f"- **B**: `{'b' * 10}` + uncommitted changes New engine (the working tree)" in md
    row = "| engine | throughput \\| c10 (orders/s) | ↑ | 105 | 110 | 1.20 0.90 | 1.05 | 0.90–1.20 | mixed |"
    assert row in md
    assert "during each run (% of one core, mean of its windows): engine 1A 12, engine 1B —." in md
    assert "- engine pair 2 side B: RuntimeError: boom" in md


def _git(cwd: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("one\n")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    (tmp_path / "f.txt").write_text("two\n")
    _git(tmp_path, "commit", "-q", "-am", "second")
    return tmp_path


def test_a_missing_ref_is_an_error_that_says_so(repo: Path) -> None:
    from bench.ab.sides import AbError, resolve

    with pytest.raises(AbError, match="'no-such-ref' does not exist"):
        resolve(repo, "no-such-ref")
    with pytest.raises(AbError, match="is not a git ref"):  # never handed to git as an option
        resolve(repo, "--all")


def test_the_ref_gets_a_worktree_of_its_own_reused_at_that_sha(repo: Path) -> None:
    from bench.ab.sides import AbError, resolve, worktree

    sha = resolve(repo, "HEAD~1")
    path = worktree(repo, sha)
    assert path.parent == repo / "build" / "ab" and path.name == _git(repo, "rev-parse", "--short", sha)
    assert (path / "f.txt").read_text() == "one\n"
    assert (repo / "f.txt").read_text() == "two\n"  # the working tree is untouched
    (path / "marker").write_text("")  # untracked: a reuse keeps it, a fresh checkout would not
    assert worktree(repo, sha) == path and (path / "marker").exists()
    (path / "f.txt").write_text("edited\n")
    with pytest.raises(AbError, match="local changes"):
        worktree(repo, sha)


def test_a_worktree_that_cannot_be_made_is_an_error(repo: Path) -> None:
    from bench.ab.sides import AbError, resolve, worktree

    sha = resolve(repo, "HEAD")
    (repo / "build" / "ab").mkdir(parents=True)
    (repo / "build" / "ab" / _git(repo, "rev-parse", "--short", sha)).write_text("in the way")
    with pytest.raises(AbError, match="not a git worktree"):
        worktree(repo, sha)


def test_side_a_can_run_with_settings_of_its_own() -> None:
    from bench.ab.sides import AbError, env_settings
    from bench.stack import EngineCode

    settings = env_settings(["ORDER_ENGINE_METRICS=false", "X=a=b"])
    assert settings == {"ORDER_ENGINE_METRICS": "false", "X": "a=b"}
    code = EngineCode(settings=tuple(settings.items()))
    assert code.env()["ORDER_ENGINE_METRICS"] == "false" and "PYTHONPATH" in code.env()
    assert "ORDER_ENGINE_METRICS" not in EngineCode().env()
    with pytest.raises(AbError, match="KEY=VALUE"):
        env_settings(["ORDER_ENGINE_METRICS"])
