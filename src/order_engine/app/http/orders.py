"""HTTP: submit, read and list orders."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter

from order_engine.adapters.wire import decimal_from_json, order_to_dict, timestamp_from_json
from order_engine.app.http.schemas import (
    OrderAccepted,
    OrderIn,
    OrderOut,
    OrderPage,
    SafetyIn,
    TriggerIn,
    is_absent,
    problem_responses,
)
from order_engine.app.http.strict_body import StrictJSON
from order_engine.app.services import Services
from order_engine.domain.errors import InvalidOrder
from order_engine.domain.requests import MAX_IDEMPOTENCY_KEY_LENGTH, OrderRequest, accepted_status
from order_engine.domain.sniper_terms import Safety, SniperTrigger
from order_engine.domain.status import OrderStatus, OrderType

MAX_ORDER_BODY = 16 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IDEMPOTENCY_HEADER,
        # Documented here, enforced in the handler so that the 400 names the header.
        schema_extra={"minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
        description=(
            "Optional, 1-255 characters. Repeating a request with the same key and body within 24 h "
            "returns the first response (same orderId) and creates nothing; the same key with another "
            "body is a 422."
        ),
    ),
]

# A str, not a UUID, so that a malformed id is a 400 naming `orderId` rather than a routing 404.
OrderIdPath = Annotated[str, PathParameter(description="The order's id (a UUID)", schema_extra={"format": "uuid"})]


# scope["state"] key: the error the accept fast path's use case raised, for Litestar to answer (fast_accept.py).
ACCEPT_ERROR = "order_engine.accept_error"


def idempotency_key_problem(key: str) -> str | None:
    """What is wrong with an Idempotency-Key header's value (the 400's words), or None if it can be used."""
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return f"header must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
    if "\x00" in key:
        return "header must not contain NUL characters"
    return None


def order_request(data: OrderIn, idempotency_key: str | None = None) -> OrderRequest:
    return OrderRequest(
        token_in=data.tokenIn,
        token_out=data.tokenOut,
        amount_in=decimal_from_json(data.amountIn, "amountIn"),
        order_type=data.orderType,
        slippage_bps=data.slippageBps,
        idempotency_key=idempotency_key,
        limit_price=None if is_absent(data.limitPrice) else decimal_from_json(data.limitPrice, "limitPrice"),
        time_in_force=data.timeInForce,
        expires_at=None if data.expiresAt is None else timestamp_from_json(data.expiresAt, "expiresAt"),
        trigger=_trigger(data.trigger),
        safety=_safety(data.safety),
    )


def _trigger(data: TriggerIn | None) -> SniperTrigger | None:
    if data is None:
        return None
    raw = data.minLiquidity
    liquidity = Decimal(0) if is_absent(raw) else decimal_from_json(raw, "trigger.minLiquidity")
    return SniperTrigger(event=data.event, venue=data.venue, min_liquidity=liquidity)


def _safety(data: SafetyIn | None) -> Safety | None:
    if data is None:
        return None
    return Safety(data.requireMintAuthorityRevoked, data.requireFreezeAuthorityRevoked)


def accepted(order_id: uuid.UUID, status: str, order_type: str) -> dict[str, Any]:
    return {
        "orderId": str(order_id),
        "status": status,
        "orderType": order_type,
        "wsUrl": f"/api/orders/{order_id}/ws",
    }


def accepted_headers(order_id: uuid.UUID, created: bool) -> dict[str, str]:
    """The 201's own headers (the Litestar handler's and the fast path's, fast_accept.py)."""
    headers = {"location": f"/api/orders/{order_id}"}
    if not created:
        headers["idempotent-replayed"] = "true"
    return headers


def _encode_cursor(created_at: datetime, order_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{order_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, oid = raw.split("|", 1)
        created_at = datetime.fromisoformat(ts)
        if created_at.tzinfo is None:  # every cursor this API returns carries its UTC offset
            raise ValueError(ts)
        # In range for PostgreSQL once in UTC (year 1 at +23:59 is not: OverflowError).
        return created_at.astimezone(UTC), uuid.UUID(oid)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise bad_parameter("cursor", "not a cursor this API returned") from None


def bad_parameter(name: str, message: str) -> ValidationException:
    """A 400 whose detail and `field` name the parameter (see errors.validation_failed)."""
    return ValidationException(f"{name}: {message}", extra=[{"message": message, "key": name}])


async def require_json(request: Request[Any, Any, Any]) -> None:
    """415 unless the body is declared JSON, 400 if there is none (rather than a bare "missing data").

    A `before_request` hook, not a guard: it runs before the body is parsed all the same, without the copy of
    the route handler Litestar makes for every guard call (a few % of a POST's CPU). Async on purpose: Litestar
    runs a sync hook in a worker thread. The body read here is cached for the handler, and the route's body
    size limit applies (413). First, the error the use case raised on the fast path, if it did (fast_accept.py).
    """
    if (error := request.scope["state"].pop(ACCEPT_ERROR, None)) is not None:
        raise error
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(
            status_code=415, detail=f"Content-Type must be application/json, got {media_type or 'none'!r}"
        )
    if not (await request.body()).strip():
        raise HTTPException(status_code=400, detail="request body is empty: send the order as a JSON object")


def _order_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise bad_parameter("orderId", f"{text[:64]!r} is not a UUID") from None


class OrdersController(Controller):
    path = "/api/orders"
    tags = ["orders"]

    @post(
        "/execute",
        status_code=201,
        request_max_body_size=MAX_ORDER_BODY,
        before_request=require_json,
        dto=StrictJSON[OrderIn],
        return_dto=None,
        response_headers=[
            ResponseHeader(
                name="Location",
                description="/api/orders/<orderId>",
                required=True,
                value="/api/orders/<orderId>",  # documentation only: gives the header its type
                documentation_only=True,
            ),
            ResponseHeader(
                name="Idempotent-Replayed",
                description='"true" when this is the stored answer to an earlier request with the same Idempotency-Key',
                value="true",
                documentation_only=True,
            ),
        ],
        responses=problem_responses(400, 413, 415, 422, 429, 503),
    )
    async def execute(
        self, data: JSONBody[OrderIn], services: NamedDependency[Services], idempotency_key: IdempotencyKeyHeader = None
    ) -> Response[OrderAccepted]:
        """Accept a market, limit or sniper order: 201 with its id, its status once accepted and the WebSocket URL
        that streams its status (a market order is `pending`; a limit order `waiting`, or for IOC `triggered` or
        `expired`; a sniper `waiting`).

        A replay (same Idempotency-Key and body) gets the first response again, with `Idempotent-Replayed: true`.
        """
        if idempotency_key is not None and (problem := idempotency_key_problem(idempotency_key)) is not None:
            raise InvalidOrder(IDEMPOTENCY_HEADER, problem)
        submission = await services.submit.accept(order_request(data, idempotency_key))
        order = submission.order
        # The status the order was accepted with, so a replay's body is the first answer's.
        body = msgspec.convert(accepted(order.id, accepted_status(order).value, order.order_type.value), OrderAccepted)
        return Response(body, status_code=201, headers=accepted_headers(order.id, submission.created))

    # `orderId`, as the JSON and the errors name it: the OpenAPI path parameter takes the handler's name.
    @get("/{orderId:str}", responses=problem_responses(400, 404, 429, 503))
    async def get_order(self, orderId: OrderIdPath, services: NamedDependency[Services]) -> OrderOut:
        """The order with its full status history (400 for a malformed id, 404 for an unknown one)."""
        oid = _order_id(orderId)
        order = await services.repo.get(oid)
        if order is None:
            raise NotFoundException(f"order {oid} not found")
        return msgspec.convert(order_to_dict(order), OrderOut)

    @post("/{orderId:str}/cancel", status_code=200, responses=problem_responses(400, 404, 409, 429, 503))
    async def cancel_order(self, orderId: OrderIdPath, services: NamedDependency[Services]) -> OrderOut:
        """Cancel an order that is pending, waiting or triggered: 200 with the order, now `cancelled` (again 200
        if it already was). 409 once a job has taken it further ("too late: routing"); 404 unknown."""
        order = await services.cancel(_order_id(orderId))
        return msgspec.convert(order_to_dict(order), OrderOut)

    @get("/", responses=problem_responses(400, 429, 503))
    async def list_orders(
        self,
        services: NamedDependency[Services],
        status: FromQuery[OrderStatus | None] = None,
        orderType: FromQuery[OrderType | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> OrderPage:
        """Orders newest first; pass `nextCursor` back as `cursor` for the next page."""
        before = _decode_cursor(cursor) if cursor else None
        orders = await services.repo.list(status=status, limit=limit + 1, before=before, order_type=orderType)
        page = list(orders[:limit])
        more = len(orders) > limit
        return msgspec.convert(
            {
                "orders": [order_to_dict(o) for o in page],
                "nextCursor": _encode_cursor(page[-1].created_at, page[-1].id) if more and page else None,
            },
            OrderPage,
        )
