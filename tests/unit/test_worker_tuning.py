"""The worker's shutdown: jobs under way are waited for, idle loops are not (on a stand-in for SAQ's Worker)."""

from __future__ import annotations

import asyncio
from typing import Any

from order_engine.app.worker.tuning import drain_then_stop


class StandInWorker:
    """The parts of saq.Worker that drain_then_stop touches."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.job_task_contexts: dict[str, Any] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopped_with: dict[str, Any] | None = None

    async def stop(self) -> None:  # SAQ's stop: records what was still going when it was called
        self.stopped_with = {"jobs": dict(self.job_task_contexts), "live": [t for t in self.tasks if not t.done()]}


async def test_waits_for_running_jobs_then_cancels_idle_loops() -> None:
    worker = StandInWorker()
    idle = asyncio.create_task(asyncio.sleep(3600))  # a blocking dequeue
    job = asyncio.create_task(asyncio.sleep(0.2))
    job.add_done_callback(lambda _: worker.job_task_contexts.pop("order-1"))
    worker.job_task_contexts["order-1"] = {"task": job}
    worker.tasks |= {idle, job}
    drain_then_stop(worker, drain_s=5)

    await worker.stop()

    assert worker.event.is_set()
    assert job.done() and not job.cancelled()  # the job ran to its end
    assert idle.cancelled()
    assert worker.stopped_with == {"jobs": {}, "live": []}


async def test_a_job_still_running_at_the_deadline_is_cancelled() -> None:
    worker = StandInWorker()
    stuck = asyncio.create_task(asyncio.sleep(3600))
    worker.job_task_contexts["order-2"] = {"task": stuck}
    worker.tasks.add(stuck)
    drain_then_stop(worker, drain_s=0.1)

    await asyncio.wait_for(worker.stop(), 5)

    assert stuck.cancelled()
    assert worker.stopped_with is not None and worker.stopped_with["live"] == []


async def test_an_idle_worker_stops_without_waiting() -> None:
    worker = StandInWorker()
    worker.tasks.add(asyncio.create_task(asyncio.sleep(3600)))
    drain_then_stop(worker, drain_s=30)
    loop = asyncio.get_running_loop()
    began = loop.time()

    await worker.stop()

    assert loop.time() - began < 1  # far below the 30 s drain: nothing was running
    assert worker.stopped_with == {"jobs": {}, "live": []}
