"""Garbage-collector settings for long-running processes with many live objects, and pause reporting.

An API process holding thousands of WebSockets has millions of container objects; CPython's full
(generation 2) collection walks all of them and stopped the process for ~0.5 s in the live-updates
benchmark, in the middle of a fan-out. Reference counting frees almost everything here; the cycle
collector only has to find the odd cycle. So: objects alive once the process has started are moved
out of the collector's sight (`gc.freeze`), the young generation is collected less often, and a
full collection needs many more young ones. Any collection that still takes long is logged.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

log = structlog.get_logger("order_engine.gc")

THRESHOLDS = (50_000, 20, 100)  # CPython's defaults are (700, 10, 10) (2,000 in 3.13+)
SLOW_PAUSE_S = 0.05

_started: float | None = None


def _watch(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    if _started is None:
        return
    took = time.perf_counter() - _started
    _started = None
    if took >= SLOW_PAUSE_S:
        log.warning(
            "slow garbage collection",
            generation=info.get("generation"),
            pause_ms=round(took * 1000, 1),
            collected=info.get("collected"),
        )


def tune_gc() -> None:
    """Call once the process has built its long-lived state (app, pools, plugins)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    if _watch not in gc.callbacks:
        gc.callbacks.append(_watch)
