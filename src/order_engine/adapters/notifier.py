"""StatusNotifier over Redis pub/sub: workers PUBLISH, API processes subscribe through Litestar channels' backend.

Every API process subscribes for the orders its WebSocket clients watch, so updates cross process boundaries
(N API processes, M workers).

A publish does not wait for Redis: its messages join the process's outbox and the call returns, so an order's
next step is not held up by the broadcast of its last (a round trip per step, in every order's chain, before).
One sender per process sends the outbox in order: what was published while nothing was being sent goes out when
the event loop comes round, with whatever else was published in that turn; what was published meanwhile follows
together in one pipelined round trip. So each order's messages keep their order (they leave one process in the
order they were published, on one connection), and a broadcast still follows its committed row. A failed send
is logged, never raised (the row is the truth: sockets re-read PostgreSQL every few seconds); an outbox grown
past `backlog` (Redis hanging) drops its oldest messages, logged. `flush()` waits for the outbox to empty (a
process stopping calls it before it closes Redis).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import structlog
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from order_engine.adapters.wire import encode, latest_status_message
from order_engine.domain.order import Order

log = structlog.get_logger("order_engine.notifier")

MOST_PER_ROUND_TRIP = 256
BACKLOG = 100_000  # messages: ~100 s of a busy worker's broadcasts, ~100 MB at the most


def order_channel(prefix: str, order_id: uuid.UUID | str) -> str:
    return f"{prefix}:order:{order_id}"


class RedisStatusNotifier:
    def __init__(self, redis: Redis, prefix: str, *, backlog: int = BACKLOG) -> None:
        self._redis = redis
        self._prefix = prefix
        self._backlog = backlog
        # (order id, seq, channel, message) in publish order
        self._outbox: collections.deque[tuple[uuid.UUID, int, str, bytes]] = collections.deque()
        self._sender: asyncio.Task[None] | None = None
        self.round_trips = 0  # read by the tests
        self.dropped = 0  # messages dropped from a full outbox

    async def publish(self, *orders: Order) -> None:
        for order in orders:
            message = encode(latest_status_message(order))
            self._outbox.append((order.id, order.seq, order_channel(self._prefix, order.id), message))
        if len(self._outbox) > self._backlog:
            self._drop(len(self._outbox) - self._backlog)
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_all())

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Until every message published so far was sent (or failed, logged); False if `timeout_s` ran out first."""
        try:
            async with asyncio.timeout(timeout_s):
                while self._sender is not None:
                    await asyncio.shield(self._sender)
        except TimeoutError:
            log.warning("status broadcasts not sent before stopping", left=len(self._outbox))
            return False
        return True

    def _drop(self, n: int) -> None:
        dropped = [self._outbox.popleft() for _ in range(n)]
        self.dropped += n
        log.warning(
            "status broadcasts dropped: Redis is not taking them",
            dropped=n,
            order_ids=sorted({str(order_id) for order_id, *_ in dropped})[:20],
        )

    async def _send_all(self) -> None:
        try:
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(MOST_PER_ROUND_TRIP, len(self._outbox)))]
                try:
                    await self._send(batch)
                except Exception as exc:  # a lost broadcast must not fail an order; the row is the truth
                    log.warning(
                        "status broadcast failed",
                        messages=len(batch),
                        orders=[{"order_id": str(order_id), "seq": seq} for order_id, seq, *_ in batch[:20]],
                        error=repr(exc),
                    )
        finally:
            self._sender = None

    async def _send(self, messages: Sequence[tuple[uuid.UUID, int, str, bytes]]) -> None:
        self.round_trips += 1
        if len(messages) == 1:
            _, _, channel, data = messages[0]
            await self._redis.publish(channel, data)
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, _, channel, data in messages:
                pipe.publish(channel, data)
            await pipe.execute()


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
