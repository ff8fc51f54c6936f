"""GC tuning: start-up objects frozen, fewer collections, and a warning for any long pause."""

from __future__ import annotations

import gc

import pytest
import structlog
from structlog.testing import capture_logs

from order_engine.app.runtime import gc_tuning


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if gc_tuning._watch in gc.callbacks:
        gc.callbacks.remove(gc_tuning._watch)


def test_tune_gc_freezes_sets_thresholds_and_watches_once(restore_gc) -> None:
    gc_tuning.tune_gc()
    gc_tuning.tune_gc()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert gc.callbacks.count(gc_tuning._watch) == 1


def test_slow_collections_are_logged_and_fast_ones_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([10.0, 10.2, 20.0, 20.001])
    monkeypatch.setattr(gc_tuning.time, "perf_counter", lambda: next(times))
    with capture_logs() as logs:
        # A fresh logger: the module's own may already be bound (cache_logger_on_first_use) by another test.
        monkeypatch.setattr(gc_tuning, "log", structlog.get_logger("order_engine.gc"))
        gc_tuning._watch("start", {"generation": 2})
        gc_tuning._watch("stop", {"generation": 2, "collected": 7})
        gc_tuning._watch("start", {"generation": 0})
        gc_tuning._watch("stop", {"generation": 0, "collected": 0})
    assert logs == [
        {
            "event": "slow garbage collection",
            "log_level": "warning",
            "generation": 2,
            "pause_ms": 200.0,
            "collected": 7,
        }
    ]
