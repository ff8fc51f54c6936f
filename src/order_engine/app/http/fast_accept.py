"""POST /api/orders/execute's 201 without Litestar's per-request machinery; everything else through Litestar.

Half of what a POST cost the API was the framework around the handler (BENCHMARKS.md, "Accept path"): routing,
the middleware stack, the kwargs model, the DTO, the response object. This ASGI layer sits in front of Litestar's
own (in `app.asgi_handler`, so `TestClient(create_app())` goes through it too) and takes the one route's common
case: a JSON body within the route's limit, decoded strictly as the route's DTO decodes it, made into an order
request by the same function, accepted by the same use case, answered with the bytes and headers the Litestar
handler answers with (201, or 201 with `Idempotent-Replayed: true`), counted in the same HTTP metrics.

Anything else is handed to Litestar as it arrived, the body replayed: another route, a body that does not decode,
an invalid order, a missing or odd header. An error the use case raised is not retried: it is kept in the scope and
Litestar's `before_request` hook for the route re-raises it (orders.require_json), so its status and body are the
ones the exception handlers give, and nothing is written twice. The route stays declared in Litestar (its OpenAPI
schema, examples and error responses). Not installed with the API rate limit on (Litestar's middleware counts every
request) or with `ORDER_ENGINE_HTTP_FAST_ACCEPT=false`; app-level hooks added to the app later (`before_send`,
`after_request`) would not see these requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from order_engine.app.http.orders import (
    ACCEPT_ERROR,
    MAX_ORDER_BODY,
    accepted,
    accepted_headers,
    idempotency_key_problem,
    order_request,
)
from order_engine.app.http.schemas import OrderIn
from order_engine.app.http.strict_body import decode_strict
from order_engine.app.metrics.http import CachedLabelsMiddleware
from order_engine.app.services import Services
from order_engine.domain.requests import accepted_status

PATH = "/api/orders/execute"
_JSON = (b"content-type", b"application/json")


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """(whether this request can take the fast path, its Idempotency-Key): a JSON content type, a declared length
    within the limit, each of the three headers at most once, a key Litestar's handler would take."""
    media = length = key = None
    for name, value in raw:
        if name == b"content-type":
            if media is not None:
                return False, None
            media = value
        elif name == b"content-length":
            if length is not None:
                return False, None
            length = value
        elif name == b"idempotency-key":
            if key is not None:
                return False, None
            key = value.decode("latin-1")
    if media is None or length is None or not length.isdigit() or not 0 < int(length) <= MAX_ORDER_BODY:
        return False, None
    if media.split(b";", 1)[0].strip().lower() != b"application/json":
        return False, None
    if key is not None and idempotency_key_problem(key) is not None:  # Litestar's handler words the 400
        return False, None
    return True, key


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` with the messages already read given out again first."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed  # type: ignore[return-value]


class FastAccept:
    def __init__(
        self, inner: ASGIApp, services: Callable[[], Services], meter: CachedLabelsMiddleware | None = None
    ) -> None:
        self._inner = inner
        self._services = services
        self._meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self._inner(scope, receive, send)
            return
        fast, key = _headers(scope["headers"])
        if not fast:
            await self._inner(scope, receive, send)
            return
        read: list[Message] = []
        size = 0
        while True:
            message = await receive()
            read.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or size > MAX_ORDER_BODY:  # gone, or longer than it said
                await self._inner(scope, _replaying(read, receive), send)
                return
            if not message.get("more_body", False):
                break
        body = read[0]["body"] if len(read) == 1 else b"".join(m.get("body", b"") for m in read)
        try:
            request = order_request(decode_strict(body, OrderIn), key)
        except Exception:  # noqa: BLE001 - nothing done yet: Litestar decodes it again and words the error
            await self._inner(scope, _replaying(read, receive), send)
            return
        meter, started = self._meter, time.perf_counter()
        live = meter.begin("POST", PATH) if meter is not None else None
        try:
            submission = await self._services().submit.accept(request)
        except Exception as exc:
            if meter is not None:
                meter.abandon(live)  # Litestar's middleware counts this request
            scope["state"][ACCEPT_ERROR] = exc
            await self._inner(scope, _replaying(read, receive), send)
            return
        order = submission.order
        payload = msgspec.json.encode(accepted(order.id, accepted_status(order).value, order.order_type.value))
        headers = [(k.encode(), v.encode()) for k, v in accepted_headers(order.id, submission.created).items()]
        headers += [_JSON, (b"content-length", str(len(payload)).encode())]
        try:
            await send({"type": "http.response.start", "status": 201, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        finally:
            if meter is not None:
                meter.end(live, "POST", PATH, 201, time.perf_counter() - started)
