"""Event-loop lag: a warning whenever this process's loop ran a timer late (it was blocked or starved of CPU).

Every request, job and WebSocket of the process waits behind a blocked loop, so a stall is worth a log
line naming its length; it tells a slow database (no lag) from a busy process (lag).
"""

from __future__ import annotations

import asyncio
import time

import structlog

log = structlog.get_logger("order_engine.loop")

TICK_S = 0.01


async def watch_loop_lag(warn_after_s: float, *, tick_s: float = TICK_S) -> None:
    """Run forever; log each time a `tick_s` sleep wakes more than `warn_after_s` late."""
    while True:
        due = time.perf_counter() + tick_s
        await asyncio.sleep(tick_s)
        late = time.perf_counter() - due
        if late > warn_after_s:
            log.warning("event loop stalled", stall_ms=round(late * 1000, 1))
