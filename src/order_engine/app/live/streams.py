"""This process's live WebSocket streams: the caps on them, and one batched re-check for all of them.

A published status can be lost (Redis restarting, a subscription racing a publish). Rather than each
quiet stream re-reading its order every few seconds (5,000 idle sockets = 1,000 reads/s), one task per
API process asks PostgreSQL for the latest seq of every watched order in a single statement and wakes
only the streams that are behind; they catch up from the persisted history.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

import structlog

from order_engine.app.metrics.live import NoMeter, StreamMeter

log = structlog.get_logger("order_engine.ws")

RESYNC_BATCH = 5000  # order ids per query


class Watch(Protocol):
    last: int  # the last seq the client has

    def wake(self) -> None:
        """Make the stream re-read its order from PostgreSQL."""


class SeqSource(Protocol):
    async def latest_seqs(self, order_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, int]: ...


class LiveStreams:
    """Caps on live streams in this process, in total and per order, and the registry the re-check uses."""

    def __init__(self, max_total: int, max_per_order: int, meter: StreamMeter | None = None) -> None:
        self.meter: StreamMeter = meter or NoMeter()
        self.max_total = max_total
        self.max_per_order = max_per_order
        self.by_order: dict[uuid.UUID, set[Watch]] = {}
        self.total = 0

    @contextmanager
    def admit(self, order_id: uuid.UUID, watch: Watch, route: str = "watch") -> Iterator[str | None]:
        """Yields None when admitted (and holds the slot until exit), else the reason for refusing."""
        if self.total >= self.max_total:
            yield f"too many WebSocket connections on this server (max {self.max_total})"
            return
        watchers = self.by_order.setdefault(order_id, set())
        if len(watchers) >= self.max_per_order:
            yield f"too many subscribers for this order (max {self.max_per_order})"
            return
        watchers.add(watch)
        self.total += 1
        self.meter.opened(route)
        try:
            yield None
        finally:
            watchers.discard(watch)
            self.total -= 1
            self.meter.closed(route)
            if not watchers:
                del self.by_order[order_id]

    def count(self, order_id: uuid.UUID) -> int:
        return len(self.by_order.get(order_id, ()))

    def wake_behind(self, seqs: Mapping[uuid.UUID, int]) -> int:
        """Wake every stream whose client is behind its order's persisted seq; returns how many."""
        woken = 0
        for order_id, seq in seqs.items():
            for watch in tuple(self.by_order.get(order_id, ())):
                if watch.last < seq:
                    watch.wake()
                    woken += 1
        return woken

    async def resync_once(self, source: SeqSource) -> int:
        ids = list(self.by_order)
        woken = 0
        for start in range(0, len(ids), RESYNC_BATCH):
            woken += self.wake_behind(await source.latest_seqs(ids[start : start + RESYNC_BATCH]))
        return woken

    async def resync_forever(self, source: SeqSource, every_s: float, *, sleep: Callable = asyncio.sleep) -> None:
        while True:
            await sleep(every_s)
            try:
                if woken := await self.resync_once(source):
                    log.info("live streams behind the database woken", streams=woken)
            except Exception as exc:  # PostgreSQL down: the next round tries again
                log.warning("live stream re-check failed", error=repr(exc))
