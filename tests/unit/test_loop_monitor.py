"""The event-loop lag watch: a blocked loop is reported with how long it was blocked; a free one is not."""

from __future__ import annotations

import asyncio
import time

import structlog
from structlog.testing import capture_logs

from order_engine.app.runtime import loop_monitor


async def test_a_blocked_loop_is_logged_with_the_stall_length(monkeypatch) -> None:
    with capture_logs() as logs:
        monkeypatch.setattr(loop_monitor, "log", structlog.get_logger("order_engine.loop"))
        watch = asyncio.create_task(loop_monitor.watch_loop_lag(0.05, tick_s=0.005))
        await asyncio.sleep(0.05)  # free loop: nothing to report
        quiet = list(logs)
        time.sleep(0.12)  # blocks the loop
        await asyncio.sleep(0.03)
        watch.cancel()
    assert quiet == []
    stalls = [e for e in logs if e["event"] == "event loop stalled"]
    assert len(stalls) == 1 and stalls[0]["log_level"] == "warning"
    assert 100 <= stalls[0]["stall_ms"] < 1000
