"""WebSocket: watch an order, or submit one and watch it on the same connection."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import structlog
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, FromQuery

from order_engine.adapters.wire import encode
from order_engine.app.http.errors import field_of, what_is_down
from order_engine.app.http.orders import MAX_ORDER_BODY, accepted, order_request
from order_engine.app.http.schemas import OrderSubmitMessage
from order_engine.app.http.strict_body import reject_duplicate_keys
from order_engine.app.live.stream import CLOSE_BAD_REQUEST, stream_order
from order_engine.app.services import Services
from order_engine.domain.errors import InvalidOrder, MarketUnavailable, QueueUnavailable

log = structlog.get_logger("order_engine.ws")
SUBMIT_TIMEOUT_S = 30
CLOSE_TOO_BIG = 1009
CLOSE_TIMEOUT = 4408
CLOSE_TRY_AGAIN = 1013
MAX_SINCE_DIGITS = 18  # a `since` beyond any real seq, and within what int() parses


def close_reason(detail: str) -> str:
    """`detail` cut to the 123 bytes of UTF-8 a close frame can carry (RFC 6455 §5.5); longer fails the close."""
    return detail.encode()[:123].decode(errors="ignore")


async def _reject(socket: WebSocket[Any, Any, Any], code: int, detail: str, field: str | None = None) -> None:
    message: dict[str, Any] = {"type": "error", "detail": detail}
    if field:
        message["field"] = field
    await socket.send_data(encode(message).decode(), mode="text")
    await socket.close(code=code, reason=close_reason(detail))


async def _first_message(socket: WebSocket[Any, Any, Any]) -> str | bytes:
    """The next frame's payload: str for a text frame, bytes for a binary one."""
    event = await socket.receive()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(detail="disconnect event", code=event.get("code", 1000))
    text = event.get("text")
    return text if text is not None else event.get("bytes") or b""


@websocket("/api/orders/{orderId:str}/ws")
async def watch_order(
    socket: WebSocket[Any, Any, Any],
    orderId: FromPath[str],  # the name the API uses everywhere
    services: NamedDependency[Services],
    channels: NamedDependency[ChannelsPlugin],
    since: FromQuery[str | None] = None,
) -> None:
    """Snapshot, then one message per status change; closes 1000 after confirmed/failed, 4404 unknown, 4400 malformed."""
    await socket.accept()
    try:
        oid = uuid.UUID(orderId)
    except ValueError:
        await socket.close(code=CLOSE_BAD_REQUEST, reason="orderId is not a UUID")
        return
    after: int | None = None
    if since is not None:
        # isascii: str.isdigit() is also true for "²" and other digits int() rejects
        if not (since.isascii() and since.isdigit() and len(since) <= MAX_SINCE_DIGITS):
            await socket.close(code=CLOSE_BAD_REQUEST, reason="since must be a non-negative integer")
            return
        after = int(since)
    await stream_order(socket, services, channels, oid, since=after)


@websocket("/api/orders/execute")
async def execute_over_ws(
    socket: WebSocket[Any, Any, Any], services: NamedDependency[Services], channels: NamedDependency[ChannelsPlugin]
) -> None:
    """Send the order as the first JSON message; get `accepted`, then its status stream."""
    await socket.accept()
    try:
        raw = await asyncio.wait_for(_first_message(socket), SUBMIT_TIMEOUT_S)
    except TimeoutError:
        await _reject(socket, CLOSE_TIMEOUT, f"no order received within {SUBMIT_TIMEOUT_S}s")
        return
    except WebSocketDisconnect:
        return
    body = raw if isinstance(raw, bytes) else raw.encode()
    if len(body) > MAX_ORDER_BODY:
        await _reject(socket, CLOSE_TOO_BIG, f"order message larger than {MAX_ORDER_BODY} bytes")
        return
    if isinstance(raw, bytes):
        await _reject(socket, CLOSE_BAD_REQUEST, "send the order as a text frame of JSON, not a binary frame")
        return
    try:
        reject_duplicate_keys(body, OrderSubmitMessage)
        data = msgspec.json.decode(body, type=OrderSubmitMessage)
        order = await services.submit(order_request(data, data.idempotencyKey))
    except msgspec.ValidationError as exc:
        await _reject(socket, CLOSE_BAD_REQUEST, str(exc), field_of(None, str(exc)))
        return
    except msgspec.DecodeError:
        await _reject(socket, CLOSE_BAD_REQUEST, "message is not valid JSON")
        return
    except InvalidOrder as exc:
        await _reject(socket, CLOSE_BAD_REQUEST, str(exc), exc.field)
        return
    except QueueUnavailable:
        await _reject(socket, CLOSE_TRY_AGAIN, "queue (Redis) unavailable; the order was not accepted, try again")
        return
    except MarketUnavailable as exc:
        await _reject(socket, CLOSE_TRY_AGAIN, str(exc))
        return
    except Exception as exc:
        down = what_is_down(exc)
        if down is None:
            raise
        log.warning("websocket submit refused: dependency unavailable", error=repr(exc))
        await _reject(socket, CLOSE_TRY_AGAIN, down)
        return
    body = {"type": "accepted", **accepted(order.id, order.status.value, order.order_type.value)}
    await socket.send_data(encode(body).decode(), mode="text")
    await stream_order(socket, services, channels, order.id, route="execute")
