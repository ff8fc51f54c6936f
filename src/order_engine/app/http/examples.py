"""An example for every request body and every response in the OpenAPI schema, by operation and status code.

`add_examples(app)` puts them into the schema the app serves at /schema (Swagger UI shows them), and
`order-engine export-collection` turns them into the Postman collection and the `.http` file under docs/. Each one is
checked against its own schema by the tests, so an example cannot drift from the API it documents.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar

ORDER_ID = "6b1f0e3c-1d2e-4c6a-9a41-0f5b9c2d7e11"
LIMIT_ID = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
T0 = "2026-12-02T12:00:00.000000Z"
TX = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"


def _at(ms: int) -> str:
    return f"2026-12-02T12:00:00.{ms:03d}000Z"


MARKET = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "orderType": "market", "slippageBps": 50}
LIMIT = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2", "orderType": "limit", "limitPrice": "160",
         "timeInForce": "GTC"}  # fmt: skip
LIMIT_GTD = {**LIMIT, "timeInForce": "GTD", "expiresAt": "2026-12-02T14:00:00Z"}
SNIPER = {
    "tokenIn": "SOL", "tokenOut": "PEPE2", "amountIn": "0.5", "orderType": "sniper", "slippageBps": 1500,
    "trigger": {"event": "pool_created", "venue": "any", "minLiquidity": "20"},
    "safety": {"requireMintAuthorityRevoked": True, "requireFreezeAuthorityRevoked": True},
}  # fmt: skip

HISTORY = [
    {"status": "pending", "timestamp": _at(0), "metadata": {}},
    {"status": "routing", "timestamp": _at(12), "metadata": {
        "quotes": [
            {"venue": "raydium", "price": "151.2", "feeRate": "0.003", "amountIn": "1.5", "amountOut": "226.118",
             "estimatedFeeLamports": 5000},
            {"venue": "meteora", "price": "151.6", "feeRate": "0.002", "amountIn": "1.5", "amountOut": "226.9452",
             "estimatedFeeLamports": 5000},
        ],
        "unavailable": {}, "chosen": "meteora", "reason": "meteora returns 226.9452 vs raydium 226.118 (+36.57 bps)",
        "quoteMs": 11, "attemptStartedAt": _at(1)}},
    {"status": "building", "timestamp": _at(15), "metadata": {
        "dexUsed": "meteora", "quotedPrice": "151.6", "expectedAmountOut": "226.945200", "minAmountOut": "225.810474",
        "slippageBps": 50, "wrapSol": True, "unwrapSol": False,
        "recentBlockhash": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", "blockhashMs": 1}},
    {"status": "submitted", "timestamp": _at(18), "metadata": {"txHash": TX}},
    {"status": "confirmed", "timestamp": _at(921), "metadata": {
        "txHash": TX, "executedPrice": "151.41", "amountOut": "226.661364", "slot": 280000042, "executionMs": 903}},
]  # fmt: skip
CONFIRMED = {
    "orderId": ORDER_ID, "orderType": "market", "tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5",
    "slippageBps": 50, "status": "confirmed", "dexUsed": "meteora", "executedPrice": "151.41",
    "amountOut": "226.661364", "txHash": TX, "failureReason": None, "attempts": 1, "limitPrice": None,
    "timeInForce": None, "expiresAt": None, "trigger": None, "safety": None, "arm": None, "statusHistory": HISTORY,
    "createdAt": _at(0), "updatedAt": _at(921),
}  # fmt: skip
CANCELLED = {
    **CONFIRMED, "orderId": LIMIT_ID, "orderType": "limit", "amountIn": "2", "slippageBps": None,
    "status": "cancelled", "dexUsed": None, "executedPrice": None, "amountOut": None, "txHash": None, "attempts": 0,
    "limitPrice": "160", "timeInForce": "GTD", "expiresAt": "2026-12-02T14:00:00.000000Z", "arm": 1,
    "statusHistory": [
        {"status": "pending", "timestamp": _at(0), "metadata": {}},
        {"status": "waiting", "timestamp": _at(0), "metadata": {
            "arm": 1, "limitPrice": "160", "bestEffectivePrice": "151.1633"}},
        {"status": "cancelled", "timestamp": _at(500), "metadata": {
            "fromStatus": "waiting", "reason": "cancelled by client"}},
    ],
    "updatedAt": _at(500),
}  # fmt: skip


def problem(status: int, detail: str, field: str | None = None) -> dict[str, Any]:
    return {"status_code": status, "detail": detail, **({"field": field} if field else {})}


# Errors every operation that can answer them answers alike.
COMMON = {
    401: problem(401, "operator credential required (ORDER_ENGINE_ADMIN_TOKEN)"),
    413: problem(413, "Request Entity Too Large"),
    415: problem(415, "send the body as JSON: Content-Type: application/json"),
    429: problem(429, "Too Many Requests"),
    503: problem(503, "database unavailable; try again"),
}

# (method, path) -> {"request": {name: body}, status code: body}
OPERATIONS: dict[tuple[str, str], dict[Any, Any]] = {
    ("post", "/api/orders/execute"): {
        "request": {"market": MARKET, "limit": LIMIT, "limit until a time": LIMIT_GTD, "sniper": SNIPER},
        201: {"orderId": ORDER_ID, "status": "pending", "orderType": "market", "wsUrl": f"/api/orders/{ORDER_ID}/ws"},
        400: problem(400, 'amountIn: must be a decimal number written as digits with an optional fraction, e.g. "1.5"'
                     " (no sign, exponent, spaces, separators or non-ASCII digits)", "amountIn"),
        422: problem(422, "tokenOut: NOPE is not a token that trades (a market or limit order needs one)", "tokenOut"),
        503: problem(503, "queue (Redis) unavailable; the order was not accepted, try again"),
    },
    ("get", "/api/orders/{orderId}"): {
        200: CONFIRMED,
        400: problem(400, "orderId: not a UUID", "orderId"),
        404: problem(404, f"order {ORDER_ID} not found"),
    },
    ("post", "/api/orders/{orderId}/cancel"): {
        200: CANCELLED,
        400: problem(400, "orderId: not a UUID", "orderId"),
        404: problem(404, f"order {LIMIT_ID} not found"),
        409: problem(409, "too late: routing"),
    },
    ("get", "/api/orders"): {
        200: {"orders": [CONFIRMED], "nextCursor": "MjAyNi0xMi0wMlQxMjowMDowMC4wMDAwMDBafDZiMWYwZTNj"},
        400: problem(400, "limit: must be at most 100", "limit"),
    },
    ("get", "/api/market/quote"): {
        200: {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "best": "meteora", "quotes": [
            {"venue": "raydium", "price": "151.2", "effectivePrice": "150.745333", "amountOut": "226.118",
             "feeRate": "0.003", "priceImpactPct": "0.0045"},
            {"venue": "meteora", "price": "151.6", "effectivePrice": "151.2968", "amountOut": "226.9452",
             "feeRate": "0.002", "priceImpactPct": "0.0045"}]},
        400: problem(400, "amountIn: greater than 0 required", "amountIn"),
        503: problem(503, "market unavailable: no pools yet, try again shortly"),
    },
    ("get", "/api/market/prices"): {
        200: {"at": T0, "prices": [
            {"pair": "SOL/USDC", "venue": "meteora", "price": "151.6"},
            {"pair": "SOL/USDC", "venue": "raydium", "price": "151.2"}]},
    },
    ("get", "/api/market/book"): {
        200: {"pair": "SOL/USDC",
              "asks": [{"price": "160", "amount": "2", "token": "SOL", "orders": 1}],
              "bids": [{"price": "140", "amount": "300", "token": "USDC", "orders": 2}]},
        400: problem(400, "pair: the market has no SOL/NOPE pools", "pair"),
    },
    ("get", "/health"): {
        200: {"status": "ok", "checks": {"database": "ok", "redis": "ok"}},
        503: {"status": "degraded", "checks": {"database": "ok", "redis": "down: ConnectionError"}},
    },
    ("get", "/health/live"): {200: {"status": "ok"}},
    ("post", "/api/sim/market/move"): {
        "request": {"to a price": {"pair": "SOL/USDC", "toPrice": "160"},
                    "by bps on one venue": {"pair": "SOL/USDC", "byBps": 500, "venue": "raydium"}},
        200: {"pair": "SOL/USDC", "at": T0, "prices": [
            {"venue": "meteora", "before": "151.6", "price": "160"},
            {"venue": "raydium", "before": "151.2", "price": "160"}]},
        400: problem(400, "pair: the market has no SOL/NOPE pools", "pair"),
    },
    ("post", "/api/sim/launches"): {
        "request": {"launch": {"symbol": "PEPE2", "venue": "raydium", "quoteToken": "SOL", "initialPrice": "0.000001",
                               "liquidity": "50", "decimals": 6, "mintAuthorityRevoked": True,
                               "freezeAuthorityRevoked": True, "opensAt": None}},
        201: {"symbol": "PEPE2", "mint": "8kXbW9mG2Vr3dZpQvN6tYhJ4sLcF1aE7uR5oKiMn2Bq", "venue": "raydium",
              "pool": "PEPE2/SOL", "opensAt": None},
        400: problem(400, "symbol: 2-10 ASCII letters or digits", "symbol"),
        409: problem(409, "symbol 'PEPE2' is already registered"),
    },
}  # fmt: skip


def served_schema(app: Litestar) -> dict[str, Any]:
    """The OpenAPI document the app serves (/schema/openapi.json, .yaml, Swagger UI), as a dict: Litestar builds
    it once from the routes and caches it; `add_examples` fills that cache."""
    from litestar._openapi.plugin import OpenAPIPlugin  # Litestar's own; its cache is what every renderer serves

    return app.plugins.get(OpenAPIPlugin).provide_openapi_schema()


def add_examples(app: Litestar) -> dict[str, Any]:
    """Every operation's request body and responses get their examples, in the served document itself: the
    `Example` objects of `litestar.openapi.spec` would lose their nulls on the way (`to_schema()` drops every
    None, and a response's nullable fields are required). KeyError naming an operation or status without one."""
    schema = served_schema(app)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            table = OPERATIONS[(method, path)]
            for media in (operation.get("requestBody") or {}).get("content", {}).values():
                media["examples"] = {name: {"summary": name, "value": body} for name, body in table["request"].items()}
            for code, response in operation.get("responses", {}).items():
                for media in (response.get("content") or {}).values():
                    value = table.get(int(code), COMMON.get(int(code)))
                    if value is None:
                        raise KeyError(f"no example for {method.upper()} {path} {code}")
                    media["examples"] = {code: {"summary": response.get("description", code), "value": value}}
    return schema
