"""Bad input over HTTP: a 4xx that names the problem, and no order row written."""

from __future__ import annotations

import httpx
import pytest
from client import order_count
from stack import Stack

pytestmark = pytest.mark.e2e

GOOD = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
JSON = {"content-type": "application/json"}

CASES = [
    ("missing tokenIn", {"tokenOut": "USDC", "amountIn": "1"}, 400, "tokenIn"),
    ("missing amountIn", {"tokenIn": "SOL", "tokenOut": "USDC"}, 400, "amountIn"),
    ("extra field", {**GOOD, "leverage": 10}, 400, "leverage"),
    ("non-numeric amount", {**GOOD, "amountIn": "lots"}, 400, "amountIn"),
    ("zero amount", {**GOOD, "amountIn": "0"}, 400, "amountIn"),
    ("negative amount", {**GOOD, "amountIn": -2}, 400, "amountIn"),
    ("NaN amount", {**GOOD, "amountIn": "NaN"}, 400, "amountIn"),
    ("too many decimals", {**GOOD, "amountIn": "0.0000000001"}, 400, "amountIn"),
    ("amount as bool", {**GOOD, "amountIn": True}, 400, "amountIn"),
    ("same token both sides", {**GOOD, "tokenOut": "SOL"}, 400, "tokenOut"),
    ("SOL vs WSOL", {**GOOD, "tokenOut": "WSOL"}, 400, "tokenOut"),
    ("unknown token", {**GOOD, "tokenIn": "DOGE"}, 400, "tokenIn"),
    ("slippage too high", {**GOOD, "slippageBps": 5001}, 400, "slippageBps"),
    ("slippage negative", {**GOOD, "slippageBps": -1}, 400, "slippageBps"),
    ("slippage not int", {**GOOD, "slippageBps": "fifty"}, 400, "slippageBps"),
    # Strict over HTTP as over WebSocket: no guessing that "50", 5.0 or 1e2 meant an integer.
    ("slippage as numeric string", {**GOOD, "slippageBps": "50"}, 400, "slippageBps"),
    ("slippage as float", {**GOOD, "slippageBps": 5.0}, 400, "slippageBps"),
    ("slippage as bool", {**GOOD, "slippageBps": True}, 400, "slippageBps"),
    ("token as number", {**GOOD, "tokenIn": 1}, 400, "tokenIn"),
    ("sniper not supported", {**GOOD, "orderType": "sniper"}, 400, "orderType"),
    ("limit without its price", {**GOOD, "orderType": "limit", "slippageBps": None}, 400, "limitPrice"),
    ("unknown order type", {**GOOD, "orderType": "stop"}, 400, "orderType"),
    ("body not an object", ["SOL", "USDC"], 400, None),
    # An amount is digits with an optional fraction, nothing Python's Decimal() would also read.
    ("amount with underscore", {**GOOD, "amountIn": "1_000"}, 400, "amountIn"),
    ("amount in fullwidth digits", {**GOOD, "amountIn": "１"}, 400, "amountIn"),
    ("amount in Arabic-Indic digits", {**GOOD, "amountIn": "١٢"}, 400, "amountIn"),
    ("amount with spaces", {**GOOD, "amountIn": " 1.5 "}, 400, "amountIn"),
    ("amount with a plus sign", {**GOOD, "amountIn": "+1"}, 400, "amountIn"),
    ("amount with an exponent", {**GOOD, "amountIn": "1e2"}, 400, "amountIn"),
    ("amount without integer part", {**GOOD, "amountIn": ".5"}, 400, "amountIn"),
    ("amount with a bare point", {**GOOD, "amountIn": "1."}, 400, "amountIn"),
]

# Raw bodies: what a JSON encoder would never write, but a client can send.
RAW_CASES = [
    ("number with exponent", b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":1.5e0}', "amountIn"),
    ("number with negative exponent", b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":15e-1}', "amountIn"),
    ("tokenIn twice", b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"1","tokenIn":"BONK"}', "tokenIn"),
    ("amountIn twice", b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"1","amountIn":"1000"}', "amountIn"),
    (
        "key twice, once escaped",
        b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"1","token\\u0049n":"BONK"}',
        "tokenIn",
    ),
]


@pytest.mark.parametrize(("case", "content", "field"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
async def test_raw_bodies_that_decode_loosely_are_rejected(
    stack: Stack, migrated_database: str, case: str, content: bytes, field: str
) -> None:
    before = await order_count(migrated_database)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        response = await client.post("/api/orders/execute", content=content, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and field in response.json()["detail"]
    assert await order_count(migrated_database) == before


@pytest.mark.parametrize(("case", "body", "status", "field"), CASES, ids=[c[0] for c in CASES])
async def test_bad_order_is_rejected_naming_the_field(
    stack: Stack, migrated_database: str, case: str, body: object, status: int, field: str | None
) -> None:
    before = await order_count(migrated_database)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        response = await client.post("/api/orders/execute", json=body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["status_code"] == status and problem["detail"]
    assert problem.get("field") == field
    if field:
        assert field in problem["detail"]
    assert "Traceback" not in response.text
    assert await order_count(migrated_database) == before


@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (
            b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}',
            {"content-type": "text/plain"},
            415,
            "Content-Type",
        ),
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}', {}, 415, "Content-Type"),
        (b'{"tokenIn": "SOL", ', JSON, 400, "not valid JSON"),
        (b"", JSON, 400, "body is empty"),
        (b" \r\n ", JSON, 400, "body is empty"),
        (b'{"tokenIn": "' + b"A" * 20_000 + b'"}', JSON, 413, "Too Large"),
    ],
    ids=["text/plain", "no content type", "truncated JSON", "empty body", "blank body", "oversized body"],
)
async def test_malformed_requests_get_a_clear_4xx(
    stack: Stack, migrated_database: str, content: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    before = await order_count(migrated_database)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        response = await client.post("/api/orders/execute", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert await order_count(migrated_database) == before


async def test_unknown_and_malformed_order_ids(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        unknown = await client.get("/api/orders/00000000-0000-4000-8000-000000000000")
        malformed = await client.get("/api/orders/12345")
        bad_status = await client.get("/api/orders", params={"status": "exploded"})
        bad_limit = await client.get("/api/orders", params={"limit": 0})
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
    assert malformed.status_code == 400 and "orderId" in malformed.json()["detail"]
    assert bad_status.status_code == 400 and bad_limit.status_code == 400
