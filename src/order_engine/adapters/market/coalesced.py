"""Reads of pool hashes that share round trips: the DataLoader pattern, for one Redis command.

Concurrent `hgetall`s issued in the same turn of the event loop (both venues' quotes for one order, and those
of the other orders in flight) go out as one pipelined round trip, each key once. A reader gets the hash as it
was when the pipeline ran, which is what a read issued at that moment would have returned: the pools' writes
are still compare-and-set, so a coalesced read never makes a write less exact.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis


class CoalescedReads:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiting: dict[str, list[asyncio.Future[dict[bytes, bytes]]]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self.round_trips = 0  # pipelines sent (for tests and benchmarks)

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        future: asyncio.Future[dict[bytes, bytes]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._flushing is None:
            # Runs once the coroutines ready in this turn of the loop have had theirs: they join this batch.
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch, self._waiting, self._flushing = self._waiting, {}, None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.hgetall(key)
                results = await pipe.execute()
            self.round_trips += 1
        except BaseException as exc:  # every reader of the batch gets the error (a cancel included)
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for futures, raw in zip(batch.values(), results, strict=True):
            for future in futures:
                if not future.done():
                    future.set_result(raw)
