"""RestingWatch on a Redis stream: the watcher follows `{prefix}:watch` for orders that start or stop resting.

A notice is a doorbell, not the truth: the watcher reads the order itself from PostgreSQL, and reconciles
with it every few seconds, so a notice lost to a crash between the commit and the XADD only delays a trigger.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from order_engine.domain.order import Order

WATCH_MAXLEN = 100_000


def watch_stream(prefix: str) -> str:
    return f"{prefix}:watch"


class RedisRestingWatch:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self.stream = watch_stream(prefix)

    async def rested(self, order: Order) -> None:
        await self._redis.xadd(
            self.stream, {"kind": "rest", "id": str(order.id)}, maxlen=WATCH_MAXLEN, approximate=True
        )

    async def gone(self, order_id: uuid.UUID) -> None:
        await self._redis.xadd(
            self.stream, {"kind": "gone", "id": str(order_id)}, maxlen=WATCH_MAXLEN, approximate=True
        )
