"""`WebSocket /api/stream`: the market as the console shows it — prices, the newest orders, one pair's limit book.

One task per API process reads them once a second (one query for the orders, one for the book, one Redis read for
the pools), however many consoles watch, and sends each socket what changed since its last message: a console
never polls. Each message is a whole snapshot of its kind, in the shape of the HTTP endpoint that returns it
(`GET /api/market/prices`, `GET /api/orders?limit=20` without the histories, `GET /api/market/book`), so a socket
that misses one (a slow client: its queue holds one of each) is whole again with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromQuery

from order_engine.adapters.wire import encode, order_to_dict
from order_engine.app.http.market import book_body, prices_body
from order_engine.app.services import Services
from order_engine.domain.errors import InvalidOrder

log = structlog.get_logger("order_engine.ws")

EVERY_S = 1.0
RECENT = 20
CLOSE_TRY_AGAIN_LATER, CLOSE_BAD_REQUEST = 1013, 4400


def summary(order: Any) -> dict[str, Any]:
    body = order_to_dict(order)
    del body["statusHistory"]
    body["seq"] = order.seq
    return body


class MarketFeed:
    """The process's one reader; sockets subscribe for a pair's book."""

    def __init__(self, services: Services, every_s: float = EVERY_S) -> None:
        self.services = services
        self.every_s = every_s
        self.subscribers: dict[asyncio.Queue[bytes], str] = {}
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, pair: str) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=3)  # prices, orders, book: one of each waiting
        self.subscribers[queue] = pair
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes]) -> None:
        self.subscribers.pop(queue, None)
        if not self.subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        last: dict[str, bytes] = {}
        while self.subscribers:
            try:
                await self._round(last)
            except Exception as exc:  # a database or Redis outage: the next round tries again
                log.warning("market feed round failed", error=repr(exc))
            await asyncio.sleep(self.every_s)

    async def _messages(self, pairs: set[str]) -> dict[str, bytes]:
        """Every kind of message, now: prices, the newest orders, and the book of each pair in `pairs`."""
        orders = await self.services.repo.list(status=None, limit=RECENT, before=None, order_type=None)
        messages = {
            "prices": encode({"type": "prices", **await prices_body(self.services)}),
            "orders": encode({"type": "orders", "orders": [summary(o) for o in orders]}),
        }
        for pair in pairs:
            messages[f"book {pair}"] = encode({"type": "book", **await book_body(self.services, pair)})
        return messages

    async def _round(self, last: dict[str, bytes]) -> None:
        messages = await self._messages(set(self.subscribers.values()))
        changed = {k: v for k, v in messages.items() if last.get(k) != _stable(v)}
        for queue, pair in list(self.subscribers.items()):
            for kind, data in changed.items():
                if kind.startswith("book ") and kind != f"book {pair}":
                    continue
                _offer(queue, data)
        last.update({k: _stable(v) for k, v in messages.items()})

    async def first(self, queue: asyncio.Queue[bytes], pair: str) -> None:
        """A new socket's first messages: everything, now."""
        for data in (await self._messages({pair})).values():
            _offer(queue, data)


def _stable(data: bytes) -> bytes:
    """A message without its timestamp, to tell whether anything in it changed."""
    return data.split(b',"prices"', 1)[-1] if data.startswith(b'{"type":"prices"') else data


def _offer(queue: asyncio.Queue[bytes], data: bytes) -> None:
    if queue.full():  # a slow socket: drop its oldest; every message is a whole snapshot of its kind
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(data)


@websocket("/api/stream")
async def market_stream(
    socket: WebSocket[Any, Any, Any], services: NamedDependency[Services], pair: FromQuery[str] = "SOL/USDC"
) -> None:
    """Prices, the newest orders and `pair`'s limit book (default SOL/USDC), each when it changes (read once a
    second); `{"type": "prices" | "orders" | "book", …}` in the shape of the HTTP endpoints."""
    await socket.accept()
    feed: MarketFeed = services.feed
    if len(feed.subscribers) >= services.settings.ws_max_connections:
        await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason="too many streams on this server")
        return
    queue = feed.subscribe(pair)
    reader = asyncio.create_task(_until_gone(socket))
    try:
        await feed.first(queue, pair)
        while not reader.done():
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            await socket.send_data(getter.result().decode(), mode="text")
    except WebSocketDisconnect:
        pass
    except InvalidOrder as exc:  # a pair no pool trades
        with contextlib.suppress(Exception):
            await socket.close(code=CLOSE_BAD_REQUEST, reason=str(exc)[:120])
    except Exception as exc:  # a dependency down at the first read
        log.warning("market stream closed: dependency unavailable", error=repr(exc))
        with contextlib.suppress(Exception):
            await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason="market unavailable; try again")
    finally:
        feed.unsubscribe(queue)
        reader.cancel()


async def _until_gone(socket: WebSocket[Any, Any, Any]) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")
