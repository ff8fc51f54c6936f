"""StatusNotifier over Redis pub/sub, through Litestar channels' Redis backend.

Workers publish; every API process subscribes for the orders its WebSocket clients
watch, so updates cross process boundaries (N API processes, M workers).
"""

from __future__ import annotations

import uuid

from litestar.channels.backends.redis import RedisChannelsPubSubBackend

from order_engine.adapters.wire import encode, latest_status_message
from order_engine.domain.order import Order


def order_channel(prefix: str, order_id: uuid.UUID | str) -> str:
    return f"{prefix}:order:{order_id}"


class RedisStatusNotifier:
    def __init__(self, backend: RedisChannelsPubSubBackend, prefix: str) -> None:
        self._backend = backend
        self._prefix = prefix

    async def publish(self, order: Order) -> None:
        await self._backend.publish(encode(latest_status_message(order)), [order_channel(self._prefix, order.id)])
