"""StatusNotifier over Redis pub/sub: workers PUBLISH, API processes subscribe through Litestar channels' backend.

Every API process subscribes for the orders its WebSocket clients watch, so updates cross process boundaries
(N API processes, M workers).

Publishes are grouped like the status writes they follow (adapters/batching.py): one made while none is on its
way goes out when the event loop comes round, with those made in the same turn; those made meanwhile (a group
commit's orders, each publishing its own committed row) follow together in one pipelined round trip. Each
order's messages keep their order: an order publishes its next status only after its previous one was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import structlog
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from order_engine.adapters.batching import KeyedBatcher
from order_engine.adapters.wire import encode, latest_status_message
from order_engine.domain.order import Order

log = structlog.get_logger("order_engine.notifier")


def order_channel(prefix: str, order_id: uuid.UUID | str) -> str:
    return f"{prefix}:order:{order_id}"


class RedisStatusNotifier:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._batches: KeyedBatcher[tuple[str, bytes], None] = KeyedBatcher(self._send, most=256)
        self.round_trips = 0  # read by the tests

    async def publish(self, *orders: Order) -> None:
        messages = [(order_channel(self._prefix, o.id), encode(latest_status_message(o))) for o in orders]
        await self._batches.submit_many("", messages)

    async def _send(self, _key: str, messages: Sequence[tuple[str, bytes]]) -> list[None]:
        self.round_trips += 1
        if len(messages) == 1:
            await self._redis.publish(*messages[0])
            return [None]
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, data in messages:
                pipe.publish(channel, data)
            await pipe.execute()
        return [None] * len(messages)


class ReconnectingPubSubBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, except that losing Redis does not end the stream.

    The channels plugin runs one task over `stream_events()` per API process. In Litestar's backend an
    error ends that generator, and with it every live update in the process until it restarts (sockets
    then only see what their 5 s PostgreSQL re-read finds). Here the error is logged and the stream reads
    again after a short pause: redis-py reconnects and subscribes the same channels again. What was
    published while Redis was away is lost; the sockets fill such gaps from PostgreSQL.
    """

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        pause_s = 0.1
        while True:
            try:
                async for event in super().stream_events():
                    pause_s = 0.1
                    yield event
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("pub/sub connection lost; reconnecting", error=str(exc), retry_in_s=pause_s)
            except Exception as exc:
                # Not only redis-py's own errors: when a reconnect races a concurrent (un)subscribe on the
                # same connection, uvloop raises RuntimeError ("the handler is closed") from the transport.
                # Start again on a fresh connection rather than end live updates for the whole process.
                log.warning("pub/sub stream failed; reconnecting", error=repr(exc), retry_in_s=pause_s)
                await self.drop_connection()
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 2.0)

    async def drop_connection(self) -> None:
        """Close the subscription connection; the next read reconnects and subscribes every channel again."""
        connection = self._pub_sub.connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
