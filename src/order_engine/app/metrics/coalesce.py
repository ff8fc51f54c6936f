"""Counts and observations gathered in process and written to the metrics once a second.

In multiprocess mode every counter increment and histogram observation is a locked write to an mmap'd file; a
market order makes ~16 of them. Here an order's events only add to dictionaries, and each series that changed is
written once per `every_s` (and at exit): the files see a few writes a second however many orders go by. What a
scrape shows lags by at most `every_s`; a process killed outright loses at most that much of its counts.

A histogram's accumulated observations go straight to its bucket and sum values (`_upper_bounds`, `_buckets`,
`_sum` of prometheus_client's Histogram): what `observe()` would have written, in one write per bucket
(`tests/unit/test_engine_metrics.py` checks the result equals observing one by one).
"""

from __future__ import annotations

import asyncio
import atexit
import bisect
import functools
from collections import defaultdict
from typing import Any

FLUSH_EVERY_S = 1.0


class Coalescer:
    def __init__(self, every_s: float = FLUSH_EVERY_S) -> None:
        self.every_s = every_s
        self._counts: dict[Any, float] = defaultdict(float)
        self._sums: dict[Any, float] = defaultdict(float)
        self._buckets: dict[Any, list[int]] = {}
        self._scheduled = False
        if every_s > 0:
            atexit.register(self.flush)

    def inc(self, child: Any, amount: float = 1.0) -> None:
        if self.every_s <= 0:
            child.inc(amount)
            return
        self._counts[child] += amount
        self._schedule()

    def observe(self, child: Any, value: float) -> None:
        if self.every_s <= 0:
            child.observe(value)
            return
        counts = self._buckets.get(child)
        if counts is None:
            counts = self._buckets[child] = [0] * len(child._upper_bounds)  # noqa: SLF001
        counts[bisect.bisect_left(child._upper_bounds, value)] += 1  # noqa: SLF001 - the first bound >= value
        self._sums[child] += value
        self._schedule()

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script): write through
            self.flush()
            return
        self._scheduled = True
        loop.call_later(self.every_s, self.flush)

    def flush(self) -> None:
        """Write everything gathered since the last flush."""
        self._scheduled = False
        counts, sums, buckets = self._counts, self._sums, self._buckets
        self._counts, self._sums, self._buckets = defaultdict(float), defaultdict(float), {}
        for child, amount in counts.items():
            if amount:  # a gauge that went up and down again in the window is where it was
                child.inc(amount)
        for child, per_bucket in buckets.items():
            child._sum.inc(sums[child])  # noqa: SLF001
            for i, n in enumerate(per_bucket):
                if n:
                    child._buckets[i].inc(n)  # noqa: SLF001


@functools.cache
def shared_coalescer() -> Coalescer:
    """The process's one coalescer (the metrics listener, the request middleware and the live streams' meter)."""
    return Coalescer()
