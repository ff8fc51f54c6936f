"""Request bodies and query parameters as msgspec structs (documented in the OpenAPI schema)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=16, description="Token symbol, e.g. SOL, USDC")]


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """An order to execute. `amountIn` is a decimal string (a JSON number is accepted too)."""

    tokenIn: Symbol
    tokenOut: Symbol
    amountIn: Annotated[Decimal, msgspec.Meta(description='Amount of tokenIn to sell, > 0, e.g. "1.5"')]
    orderType: Annotated[str, msgspec.Meta(max_length=16)] = "market"
    slippageBps: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 50


class OrderSubmitMessage(OrderIn):
    """The first message of a WebSocket submit: the order, plus the optional idempotency key.

    Over HTTP the key is the `Idempotency-Key` header, so the POST body rejects this field.
    """

    idempotencyKey: str | None = None  # 1-255 characters, checked with the order (field `idempotencyKey`)
