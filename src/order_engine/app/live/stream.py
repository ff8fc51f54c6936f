"""Streams one order's status changes to a WebSocket client, gap-free.

Subscribe first, then read the snapshot from PostgreSQL, then forward live events
from Redis, dropping any with seq ≤ what the client has. A gap (an event that
raced the subscription, or a lost publish) is filled from the order's persisted
history, and a process-wide re-check (app/live/streams.py) wakes any stream whose order
moved on without it, so a client always sees seq 1, 2, 3 … exactly once, whatever
happens to pub/sub. Events, wake-ups and the client leaving all arrive through the
stream's one subscriber queue: one task per socket does the forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from litestar import WebSocket
from litestar.channels import ChannelsPlugin
from litestar.exceptions import WebSocketDisconnect

from order_engine.adapters.notifier import order_channel
from order_engine.adapters.wire import encode, latest_status_message, status_message
from order_engine.app.http.errors import what_is_down
from order_engine.app.services import Services
from order_engine.domain.order import Order
from order_engine.domain.status import TERMINAL

log = structlog.get_logger("order_engine.ws")

CLOSE_NORMAL = 1000
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_TRY_AGAIN_LATER = 1013


class _Head(msgspec.Struct):
    seq: int
    status: str


_decode_head = msgspec.json.Decoder(_Head).decode
_last: tuple[bytes, _Head] | None = None


def _head(data: bytes) -> _Head:
    """Every subscriber of an order gets the same bytes object for an event: decode it once."""
    global _last
    if _last is None or _last[0] is not data:
        _last = (data, _decode_head(data))
    return _last[1]


# Markers put into a stream's own subscriber queue, next to the published events (which are JSON objects).
_RESYNC = b"resync"  # the process-wide re-check found the order ahead of this client (app/live/streams.py)
_GONE = b"gone"  # the client closed the socket


async def _until_disconnect(socket: WebSocket[Any, Any, Any], subscriber: Any) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")
    subscriber.put_nowait(_GONE)


class _Stream:
    def __init__(self, socket: WebSocket[Any, Any, Any], sent: Callable[[], None]) -> None:
        self.socket = socket
        self._sent = sent
        self.subscriber: Any = None
        self.last = 0
        self.done = False

    def wake(self) -> None:
        if self.subscriber is not None:
            self.subscriber.put_nowait(_RESYNC)

    async def send(self, data: bytes, seq: int, status: str) -> None:
        await self.socket.send_data(data.decode(), mode="text")
        self._sent()
        self.last = seq
        if status in TERMINAL:  # a str: StrEnum members hash and compare as their values
            # Every socket watching this order woke for the same event: let the others send it before
            # this one closes and tears down (which costs more than a send).
            await asyncio.sleep(0)
            await self.socket.close(code=CLOSE_NORMAL, reason=f"order {status}")
            self.done = True

    async def catch_up(self, order: Order, upto: int | None = None) -> None:
        """Send the persisted entries after `last` (up to seq `upto`)."""
        end = order.seq if upto is None else min(order.seq, upto)
        for seq in range(self.last + 1, end + 1):
            entry = order.status_history[seq - 1]
            await self.send(encode(status_message("status", order, seq, entry)), seq, entry.status.value)
            if self.done:
                return


async def stream_order(
    socket: WebSocket[Any, Any, Any],
    services: Services,
    channels: ChannelsPlugin,
    order_id: uuid.UUID,
    *,
    since: int | None = None,
    route: str = "watch",
) -> None:
    """Stream `order_id` until it is terminal (close 1000) or the client leaves. The socket is accepted. `route`
    names the route for the meter: `watch` (/api/orders/{id}/ws) or `execute` (/api/orders/execute)."""
    meter = services.streams.meter
    stream = _Stream(socket, lambda: meter.sent(route))
    with services.streams.admit(order_id, stream, route) as refused:
        if refused:
            log.warning("websocket refused", order_id=str(order_id), reason=refused)
            await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason=refused)
            return
        try:
            await _stream(stream, services, channels, order_id, since=since)
        except Exception as exc:
            down = what_is_down(exc)
            if down is None:
                raise
            # As HTTP answers 503: a retryable close (1013), not an internal error (1011).
            log.warning("websocket closed: dependency unavailable", order_id=str(order_id), error=repr(exc))
            with contextlib.suppress(Exception):  # the client may be gone already
                await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason=down)


async def _stream(
    stream: _Stream, services: Services, channels: ChannelsPlugin, order_id: uuid.UUID, *, since: int | None
) -> None:
    bound = log.bind(order_id=str(order_id))
    socket = stream.socket
    channel = order_channel(services.settings.key_prefix, order_id)
    async with channels.start_subscription([channel]) as subscriber:
        stream.subscriber = subscriber
        gone = asyncio.create_task(_until_disconnect(socket, subscriber))
        try:
            order = await services.repo.get(order_id)
            if order is None:
                await socket.close(code=CLOSE_NOT_FOUND, reason="order not found")
                return
            bound.info("websocket subscribed", since=since, seq=order.seq)
            if since is None:
                await stream.send(encode(latest_status_message(order, "snapshot")), order.seq, order.status.value)
            else:
                stream.last = max(0, since)
                await stream.catch_up(order)
            if stream.done:
                bound.info("websocket stream finished", last_seq=stream.last)
                return
            async for data in subscriber.iter_events():
                if data is _GONE:
                    bound.info("websocket client left", last_seq=stream.last)
                    return
                if data is _RESYNC:
                    fresh = await services.repo.get(order_id)
                    if fresh is not None:
                        await stream.catch_up(fresh)
                else:
                    head = _head(data)
                    if head.seq <= stream.last:
                        continue
                    if head.seq > stream.last + 1:  # missed one: fill the gap from the persisted history
                        fresh = await services.repo.get(order_id)
                        if fresh is not None:
                            await stream.catch_up(fresh, upto=head.seq - 1)
                    if not stream.done:
                        await stream.send(data, head.seq, head.status)
                if stream.done:
                    bound.info("websocket stream finished", last_seq=stream.last)
                    return
        except WebSocketDisconnect:
            bound.info("websocket client left")
        finally:
            stream.subscriber = None
            gone.cancel()
            await asyncio.gather(gone, return_exceptions=True)
