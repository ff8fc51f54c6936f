"""An order's live stream from the outside: its status messages in order, each once, across dropped sockets.

`follow` connects to `/api/orders/{id}/ws?since=N` and yields each status message after seq N; when the socket
drops (or the server closes it to be tried again), it reconnects with `since=` the last seq it yielded, so the
server replays what was missed from PostgreSQL and nothing is seen twice. It ends after a terminal status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from order_engine.app.client.http import ApiError, Unreachable

TERMINAL = frozenset({"confirmed", "failed", "cancelled", "expired"})
CLOSE_NOT_FOUND, CLOSE_BAD_REQUEST = 4404, 4400
BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0)  # between reconnections; the last repeats
GIVE_UP_S = 30.0  # reconnecting this long without a socket: the engine is unreachable


def ws_base(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


async def follow(
    url: str,
    order_id: str,
    *,
    since: int = 0,
    on_reconnect: Callable[[int, str], None] | None = None,
    give_up_s: float = GIVE_UP_S,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Status messages of `order_id` after seq `since`, each once, until a terminal one. `url` is the engine's
    http(s) URL. Raises ApiError (404: no such order) or Unreachable (no socket for `give_up_s`)."""
    last, down_since, tries = since, None, 0
    while True:
        reason = ""
        try:
            async with connect(
                f"{ws_base(url)}/api/orders/{order_id}/ws?since={last}",
                open_timeout=10,
                close_timeout=2,
                additional_headers=headers,
            ) as socket:
                down_since, tries = None, 0
                async for raw in socket:
                    message = json.loads(raw)
                    seq = message.get("seq", 0)
                    if message.get("type") not in ("status", "snapshot") or seq <= last:
                        continue
                    last = seq
                    yield message
                    if message["status"] in TERMINAL:
                        return
                code = socket.close_code
                reason = f"closed {code}: {socket.close_reason or 'by the server'}"
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            reason = f"connection lost ({code or 'no close frame'})"
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            code = None
            reason = f"cannot connect: {exc or type(exc).__name__}"
        if code == CLOSE_NOT_FOUND:
            raise ApiError(404, f"order {order_id} not found")
        if code == CLOSE_BAD_REQUEST:
            raise ApiError(400, reason)
        down_since = down_since or time.monotonic()
        if time.monotonic() - down_since > give_up_s:
            raise Unreachable(
                f"lost the stream of order {order_id} and could not reconnect for {give_up_s:g}s: {reason}"
            )
        if on_reconnect is not None:
            on_reconnect(last, reason)
        await asyncio.sleep(BACKOFF_S[min(tries, len(BACKOFF_S) - 1)])
        tries += 1
