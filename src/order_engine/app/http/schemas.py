"""Request and response bodies as msgspec structs: they validate input and document the API (OpenAPI at /schema)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec

from order_engine.domain.status import OrderStatus, OrderType

TokenName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=44,
        description=(
            "Token symbol, case-insensitive (SOL, USDC, … or a launched one), or a launched token's base58 mint; "
            "a sniper's tokenOut may name a token not launched yet: a symbol of 2-10 ASCII letters or digits, "
            "or a base58 mint"
        ),
    ),
]
DecimalString = Annotated[str, msgspec.Meta(description='A decimal number as a string, e.g. "1.5"')]
Timestamp = Annotated[str, msgspec.Meta(description="ISO 8601 UTC timestamp, e.g. 2025-01-01T12:00:00.123456Z")]


# The JSON Schema of an amount or price: what `wire.decimal_from_json` accepts.
PLAIN_DECIMAL_SCHEMA = {
    "one_of": [
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        {"type": "number", "minimum": 0, "description": "written in plain decimal notation: 1.5, not 1.5e0"},
    ]
}


def json_decimal(description: str, example: str) -> Any:
    """The type of an amount or price field: its raw JSON token, so that `wire.decimal_from_json` judges a
    number as written (1.5e0 and 1.5 decode alike), documented with the one pattern every amount follows."""
    return Annotated[
        msgspec.Raw,
        msgspec.Meta(description=description, examples=[example], extra_json_schema={"extra": PLAIN_DECIMAL_SCHEMA}),
    ]


def is_absent(raw: msgspec.Raw | msgspec.UnsetType) -> bool:
    """An optional raw amount that was left out or sent as null."""
    return raw is msgspec.UNSET or bytes(raw) == b"null"


class TriggerIn(msgspec.Struct, forbid_unknown_fields=True):
    """What fires a sniper: a pool for its pair is created (and open)."""

    event: Annotated[str, msgspec.Meta(max_length=32, description="pool_created (the only event)")] = "pool_created"
    venue: Annotated[str, msgspec.Meta(max_length=16, description="any (default), raydium or meteora")] = "any"
    minLiquidity: (
        json_decimal(  # type: ignore[valid-type]
            "The least the new pool must hold on its tokenIn side, in tokenIn (default 0)", "20"
        )
        | msgspec.UnsetType
    ) = msgspec.UNSET


class SafetyIn(msgspec.Struct, forbid_unknown_fields=True):
    """Checks the token must pass before a sniper buys it."""

    requireMintAuthorityRevoked: bool = True
    requireFreezeAuthorityRevoked: bool = True


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """An order to execute. `amountIn` is a decimal string (a JSON number in plain notation is accepted too)."""

    tokenIn: Annotated[TokenName, msgspec.Meta(examples=["SOL"])]
    tokenOut: Annotated[TokenName, msgspec.Meta(examples=["USDC"])]
    amountIn: json_decimal(  # type: ignore[valid-type]
        'Amount of tokenIn to sell, > 0: digits with an optional fraction, e.g. "1.5" (no sign, exponent, '
        "spaces or separators); a JSON number is read exactly, as written",
        "1.5",
    )
    orderType: Annotated[str, msgspec.Meta(max_length=16, description="market (default), limit or sniper")] = "market"
    slippageBps: (
        Annotated[
            int,
            msgspec.Meta(
                ge=0, le=5000, description="Market and sniper orders: 0-5000, default 50. Refused on limit orders."
            ),
        ]
        | None
    ) = None
    # A raw JSON token like amountIn; UNSET when left out (null is read as absent too).
    limitPrice: (
        json_decimal(  # type: ignore[valid-type]
            "Limit orders (required): the worst acceptable effective price, tokenOut per one tokenIn after fees "
            "and price impact (a USDC → SOL limit is in SOL per USDC)",
            "160",
        )
        | msgspec.UnsetType
    ) = msgspec.UNSET
    timeInForce: (
        Annotated[str, msgspec.Meta(max_length=8, description="Limit orders: GTC (default), GTD or IOC")] | None
    ) = None
    expiresAt: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=40,
                description="GTD limit orders and sniper orders (default: now + 24 h): an RFC 3339 time in UTC",
            ),
        ]
        | None
    ) = None
    trigger: TriggerIn | None = None  # sniper orders (required)
    safety: SafetyIn | None = None  # sniper orders (default: both checks on)


class OrderSubmitMessage(OrderIn):
    """The first message of a WebSocket submit: the order, plus the optional idempotency key.

    Over HTTP the key is the `Idempotency-Key` header, so the POST body rejects this field.
    """

    idempotencyKey: str | None = None  # 1-255 characters, checked with the order (field `idempotencyKey`)


class OrderAccepted(msgspec.Struct):
    """201 to a submitted order: its id, the status it was accepted with, and where to watch it."""

    orderId: uuid.UUID
    status: OrderStatus
    orderType: OrderType
    wsUrl: Annotated[str, msgspec.Meta(description="WebSocket URL that streams this order's status changes")]


class StatusEntryOut(msgspec.Struct):
    """One entry of an order's status history (metadata per status: see the README)."""

    status: OrderStatus
    timestamp: Timestamp
    metadata: dict[str, Any]


class OrderOut(msgspec.Struct):
    """An order with its full status history. Amounts are decimal strings."""

    orderId: uuid.UUID
    orderType: OrderType
    tokenIn: str
    tokenOut: str
    amountIn: DecimalString
    slippageBps: int | None
    status: OrderStatus
    dexUsed: str | None
    executedPrice: DecimalString | None
    amountOut: DecimalString | None
    txHash: str | None
    failureReason: str | None
    attempts: int
    limitPrice: DecimalString | None
    timeInForce: str | None
    expiresAt: Timestamp | None
    trigger: dict[str, Any] | None
    safety: dict[str, Any] | None
    arm: int | None
    statusHistory: list[StatusEntryOut]
    createdAt: Timestamp
    updatedAt: Timestamp


class OrderPage(msgspec.Struct):
    """Orders newest first; `nextCursor` (null on the last page) fetches the next page."""

    orders: list[OrderOut]
    nextCursor: str | None


class VenueQuote(msgspec.Struct):
    venue: str
    price: DecimalString
    effectivePrice: DecimalString
    amountOut: DecimalString
    feeRate: DecimalString
    priceImpactPct: Annotated[str, msgspec.Meta(description='A percent as a decimal string: "0.35" = 0.35 %')]


class MarketQuote(msgspec.Struct):
    """What each venue's pool gives right now for `amountIn` of `tokenIn`; `best` returns the most."""

    tokenIn: str
    tokenOut: str
    amountIn: DecimalString
    quotes: list[VenueQuote]
    best: str


class PoolPrice(msgspec.Struct):
    pair: Annotated[str, msgspec.Meta(description="BASE/QUOTE, e.g. SOL/USDC: price is quote per base")]
    venue: str
    price: DecimalString


class MarketPrices(msgspec.Struct):
    at: Timestamp
    prices: list[PoolPrice]


class MarketMoveIn(msgspec.Struct, forbid_unknown_fields=True):
    """Steer the market: trade the pools until `pair`'s mid price is `toPrice`, or has moved by `byBps`.

    Exactly one of `toPrice` and `byBps`. `pair` reads as named: `SOL/USDC` is USDC per SOL, `USDC/SOL` its
    inverse (SOL per USDC). `venue` null or absent moves every venue.
    """

    pair: Annotated[str, msgspec.Meta(max_length=33, examples=["SOL/USDC"], description="BASE/QUOTE as named")]
    venue: Annotated[str, msgspec.Meta(max_length=32, examples=["raydium"])] | None = None
    toPrice: (
        Annotated[
            msgspec.Raw,
            msgspec.Meta(
                description='The mid price to move to, in the pair as named: > 0, a plain decimal ("160"; a JSON'
                " number in plain notation is read as written), within 1/10 000 and 100 times each venue's price",
                examples=["160"],
                extra_json_schema={"extra": {"one_of": [*PLAIN_DECIMAL_SCHEMA["one_of"], {"type": "null"}]}},
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET  # null counts as absent
    byBps: (
        Annotated[
            int,
            msgspec.Meta(
                gt=-10_000,
                le=990_000,
                examples=[500],
                description="Move the pair's price by this many bps (500 = the base is worth 5 % more quote);"
                " from -9999 (1/10 000 of the price) to 990000 (100 times)",
            ),
        ]
        | None
    ) = None


class VenueMove(msgspec.Struct):
    venue: str
    before: DecimalString
    price: DecimalString


class MarketMoved(msgspec.Struct):
    """Each venue's mid price before and after the move, in the pair as named."""

    pair: str
    at: Timestamp
    prices: list[VenueMove]


class BookLevel(msgspec.Struct):
    price: Annotated[DecimalString, msgspec.Meta(description="Quote per base (e.g. USDC per SOL)")]
    amount: Annotated[DecimalString, msgspec.Meta(description="Total amount the orders at this price sell")]
    token: Annotated[str, msgspec.Meta(description="What they sell: the base for asks, the quote for bids")]
    orders: int


class MarketBook(msgspec.Struct):
    """Resting limit orders by price level, in the pair's canonical orientation (BASE/QUOTE: quote per base)."""

    pair: str
    asks: Annotated[list[BookLevel], msgspec.Meta(description="Orders selling the base at their limit, lowest first")]
    bids: Annotated[list[BookLevel], msgspec.Meta(description="Orders selling the quote, at 1/limit, highest first")]


class LaunchIn(msgspec.Struct, forbid_unknown_fields=True):
    """A token launch (simulator): a new token and its first pool."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=16, description="2-10 ASCII letters or digits")]
    venue: Annotated[str, msgspec.Meta(max_length=16, description="raydium or meteora")]
    quoteToken: Annotated[str, msgspec.Meta(max_length=16, description="SOL, USDC or USDT: the pool's other side")]
    initialPrice: json_decimal("quoteToken per one launched token", "0.000001")  # type: ignore[valid-type]
    liquidity: json_decimal("quoteToken on the pool's quote side", "50")  # type: ignore[valid-type]
    decimals: Annotated[int, msgspec.Meta(ge=0, le=9)] = 6
    mintAuthorityRevoked: bool = True
    freezeAuthorityRevoked: bool = True
    opensAt: (
        Annotated[str, msgspec.Meta(max_length=40, description="RFC 3339; before it the pool may not be traded")] | None
    ) = None


class LaunchOut(msgspec.Struct):
    symbol: str
    mint: Annotated[str, msgspec.Meta(description="base58, derived from the symbol and the seed")]
    venue: str
    pool: Annotated[str, msgspec.Meta(description="BASE/QUOTE on `venue`, e.g. PEPE2/SOL")]
    opensAt: Timestamp | None


class HealthChecks(msgspec.Struct):
    database: Annotated[str, msgspec.Meta(description='"ok", or "down: <error>"')]
    redis: Annotated[str, msgspec.Meta(description='"ok", or "down: <error>"')]


class Health(msgspec.Struct):
    status: Literal["ok", "degraded"]
    checks: HealthChecks


class Problem(msgspec.Struct):
    """Every error response: the status, a message naming the problem, and the offending input when there is one."""

    status_code: int
    detail: str
    field: (
        Annotated[str, msgspec.Meta(description="The body field, parameter or header at fault")] | msgspec.UnsetType
    ) = msgspec.UNSET
    extra: dict[str, Any] | list[Any] | msgspec.UnsetType = msgspec.UNSET


def problem_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI `responses` for the error statuses a handler can answer with (all in the `Problem` shape)."""
    return {
        code: ResponseSpec(Problem, description=PROBLEM_DESCRIPTIONS[code], generate_examples=False) for code in codes
    }


PROBLEM_DESCRIPTIONS = {
    400: "Bad input: the detail and `field` name the body field, parameter or header at fault",
    401: "Operator credential required (ORDER_ENGINE_ADMIN_TOKEN): Authorization: Bearer <token>",
    404: "No such order",
    409: "Conflict: the order can no longer be cancelled (the detail names its status), or the symbol is taken",
    413: "Request body over 16 KiB",
    415: "Content-Type is not application/json",
    422: "Idempotency-Key already used for a different request",
    429: "Rate limit exceeded; see Retry-After",
    503: "PostgreSQL or Redis unavailable; nothing was accepted, try again",
}


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's struct schemas, plus `additionalProperties: false` for structs that reject unknown fields."""

    def to_openapi_schema(self, field_definition: Any, schema_creator: Any) -> Any:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
