"""Two adjustments to SAQ's worker: sweeps that do not stall on dead workers, and a prompt shutdown."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import structlog

log = structlog.get_logger("order_engine.worker")


def quick_sweeps(queue: Any, abort_wait_s: float = 0.25) -> None:
    """SAQ's sweep waits 5 s per stuck job for its abort to land; a dead worker never acknowledges,
    so with ten jobs stuck the sweep would take 50 s. Wait briefly instead: the retry that follows is
    safe even if the old attempt is still winding down, because every step is a guarded transition."""
    queue.sweep = functools.partial(type(queue).sweep, queue, abort=abort_wait_s)


def drain_then_stop(worker: Any, drain_s: float, poll_s: float = 0.05) -> None:
    """On shutdown, wait for the jobs under way (up to `drain_s`), then stop at once.

    SAQ's own stop waits its grace period for *all* its tasks, and the idle ones (a blocking dequeue,
    upkeep loops sleeping up to 10 s) never end by themselves: every shutdown, even of an idle worker,
    took the full grace period. Here only running jobs are waited for; the idle loops are cancelled.
    A job still running at the deadline is cancelled and retried by SAQ, which is safe because every
    step is a guarded transition.
    """
    stop = worker.stop

    async def stop_promptly() -> None:
        if getattr(worker, "event", None) is not None:
            worker.event.set()  # no process task starts another job
        began = time.monotonic()
        while worker.job_task_contexts and time.monotonic() - began < drain_s:
            await asyncio.sleep(poll_s)
        if running := len(worker.job_task_contexts):
            log.warning("shutdown: jobs still running after the drain, cancelling them", jobs=running)
        idle = [task for task in worker.tasks if not task.done()]
        for task in idle:
            task.cancel()
        if idle:
            await asyncio.wait(idle, timeout=drain_s)
        await stop()

    worker.stop = stop_promptly
