"""Two adjustments to SAQ's worker: sweeps that do not stall on dead workers, and a prompt shutdown."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import structlog

log = structlog.get_logger("order_engine.worker")


def quick_sweeps(queue: Any) -> None:
    """SAQ's sweep handles stuck jobs one after another, and after aborting each it waits (5 s by default) for
    the job's worker to acknowledge before retrying it. A dead worker never acknowledges, so twenty stuck jobs
    would be retried over 100 s (and still over 5 s at the 0.25 s this used to wait).

    Here it does not wait at all (`abort=None`: the job is re-read, not listened for), so each swept job costs
    four Redis round trips. Waiting also meant a SUBSCRIBE on SAQ's job-event pub/sub per swept job, whose
    reader SAQ starts and cancels per listen; right after a Redis restart such a burst once left two readers
    on one connection ("read() called while another coroutine is already waiting", 80,000 times a minute; see
    also adapters/redis_client.py on RESP3). Nothing is lost by not waiting: a live worker notices an abort
    only on its own abort poll (every second), and a retry that overlaps the old attempt's last moments is
    safe because every step is a guarded transition and the chain is idempotent per order."""
    queue.sweep = functools.partial(type(queue).sweep, queue, abort=None)


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
