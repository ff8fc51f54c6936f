"""Group commit per key: items for one key submitted in the same turn of the event loop, or while that key's
previous batch is in flight, go out together as the next batch; one batch at a time per key.

The mock chain's swaps on one pool use it: the swaps in flight on a pool in this process are computed one after
the other on the pool as the last batch left it and sent in one script, so at any load a pool costs one round
trip per batch, not one (and, across processes, a retry) per swap. A lone item goes out at once, on its own.
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
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((item, future))
        if key not in self._draining:
            self._draining.add(key)
            asyncio.get_running_loop().create_task(self._drain(key))
        return await future

    async def _drain(self, key: str) -> None:
        try:
            while waiting := self._pending.get(key):
                batch, self._pending[key] = waiting[: self._most], waiting[self._most :]
                await self._send(key, batch)
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
