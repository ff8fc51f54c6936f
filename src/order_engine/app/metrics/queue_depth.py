"""The queues' depth from SAQ's `queue.info()`, read at scrape time by the process serving /metrics (the API).

It is never written to the multiprocess files: every worker would add its own copy of the same number. With N API
processes each scrape answers the same value (Prometheus keeps one series per instance; a dashboard takes `max`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from order_engine.app.metrics.catalog import QUEUE_STATES

log = structlog.get_logger("order_engine.metrics")

FRESH_S = 1.0  # scrapes within this of the last read reuse it


class QueueDepth(Collector):
    """`order_engine_queue_jobs{lane,state}` and `order_engine_queue_workers{lane}`; `refresh()` before each
    collection (collect() itself is synchronous)."""

    def __init__(self, queues: Mapping[str, Any]) -> None:
        self.queues = dict(queues)  # lane ("main", "snipers") -> SAQ queue
        self._info: dict[str, dict[str, Any]] = {}
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < FRESH_S:
                return
            for lane, queue in self.queues.items():
                try:
                    self._info[lane] = dict(await queue.info())
                except Exception as exc:  # Redis away: the lane's series go missing, /metrics still answers
                    self._info.pop(lane, None)
                    log.warning("queue depth unavailable", lane=lane, error=repr(exc))
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "order_engine_queue_jobs",
            "Jobs in each lane's queue, by state (SAQ's queue.info())",
            labels=["lane", "state"],
        )
        workers = GaugeMetricFamily("order_engine_queue_workers", "Workers consuming each lane", labels=["lane"])
        for lane, info in self._info.items():
            for state in QUEUE_STATES:
                jobs.add_metric([lane, state], float(info.get(state, 0)))
            workers.add_metric([lane], float(len(info.get("workers") or {})))
        yield jobs
        yield workers
