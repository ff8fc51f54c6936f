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
    """`depth`: how many batches of one key may be in flight at once (1: one at a time, which keeps a key's
    batches in submission order; more only where their order does not matter)."""

    def __init__(self, flush: Flush[T, R], *, most: int = 64, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._flush = flush
        self._most = most
        self._depth = depth
        self._pending: dict[str, list[tuple[T, asyncio.Future[R]]]] = {}
        self._in_flight: dict[str, int] = {}

    async def submit(self, key: str, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.setdefault(key, []).append((item, future))
        if self._in_flight.get(key, 0) < self._depth:
            # A batch slot is free for this key: this item goes out from this task (no hop through another task)
            # once the loop has run what is ready, so that the callers a batch woke together go out together (one
            # yield, microseconds); those arriving while every slot is in flight follow in a task.
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            try:
                await asyncio.sleep(0)
                batch = self._take(key)
                if batch:  # another slot may have taken it in the meantime
                    await self._send(key, batch)
            finally:
                self._release(key, loop)
        return await future

    def _release(self, key: str, loop: asyncio.AbstractEventLoop) -> None:
        """A slot's batch is done: it drains what waits, in a task, or is freed."""
        if self._pending.get(key):
            loop.create_task(self._drain(key))
            return
        self._in_flight[key] -= 1
        if not self._in_flight[key]:
            del self._in_flight[key]
            self._pending.pop(key, None)

    def _take(self, key: str) -> list[tuple[T, asyncio.Future[R]]]:
        waiting = self._pending.get(key, [])
        batch, self._pending[key] = waiting[: self._most], waiting[self._most :]
        return batch

    async def _drain(self, key: str) -> None:
        try:
            while self._pending.get(key):
                await self._send(key, self._take(key))
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
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
