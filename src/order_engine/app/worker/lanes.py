"""Several SAQ workers (the lanes) in one process, on one event loop, stopped together on SIGTERM/SIGINT.

litestar-saq's runner drives one worker per process; this does the same for each lane's worker (connect, start,
wait for a signal or for a worker to end, then stop them all: each drains its own running jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from typing import Any


async def run_workers(workers: Sequence[Any]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for worker in workers:
        await worker.queue.connect()
    running = [asyncio.create_task(worker.start()) for worker in workers]
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*running, stopping], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopping:
                task.result()  # a worker that ended by itself: its error, if any, ends the process
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
        for task in (*running, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for worker in workers:
            with contextlib.suppress(Exception):
                await worker.queue.disconnect()
