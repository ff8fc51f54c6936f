"""Group commit per key: an item for a key with nothing in flight goes out as soon as the event loop comes round
(with whatever else was submitted for that key in the meantime: callers woken together, by the batch before,
submit together); items that arrive while that key's batch is in flight go out together as the next batch; one
batch at a time per key.

The mock chain's swaps on one pool use it: the swaps in flight on a pool in this process are computed one after
the other on the pool as the last batch left it and sent in one script, so at any load a pool costs one round
trip per batch, not one (and, across processes, a retry) per swap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Sends one batch: an outcome per item, in order (a result, or the exception that item's caller gets).
Flush = Callable[[str, Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class KeyedBatcher(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, most: int = 64) -> None:
        self._flush = flush
        self._most = most
        self._pending: dict[str, list[tuple[T, asyncio.Future[R]]]] = {}
        self._draining: set[str] = set()

    async def submit(self, key: str, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.setdefault(key, []).append((item, future))
        if key not in self._draining:
            # Nothing in flight for this key: this item goes out from this task (no hop through another task) once
            # the loop has run what is ready, so that the callers a batch woke together go out together (one
            # yield, microseconds); those arriving while it is in flight follow in a task.
            self._draining.add(key)
            try:
                await asyncio.sleep(0)
                await self._send(key, self._take(key))
            finally:
                if self._pending.get(key):
                    loop.create_task(self._drain(key))
                else:
                    self._draining.discard(key)
                    self._pending.pop(key, None)
        return await future

    def _take(self, key: str) -> list[tuple[T, asyncio.Future[R]]]:
        waiting = self._pending.get(key, [])
        batch, self._pending[key] = waiting[: self._most], waiting[self._most :]
        return batch

    async def _drain(self, key: str) -> None:
        try:
            while self._pending.get(key):
                await self._send(key, self._take(key))
        finally:
            self._draining.discard(key)
            if not self._pending.get(key):
                self._pending.pop(key, None)

    async def _send(self, key: str, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._flush(key, [item for item, _ in batch])
        except BaseException as exc:  # the whole batch failed: each caller gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
