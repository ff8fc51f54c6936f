"""POST /api/orders/execute on the fast path answers exactly as Litestar's handler does, and hands Litestar every
request that does not end in a 201 (app/http/fast_accept.py), on real PostgreSQL and Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.app.http.app import create_app
from order_engine.app.http.fast_accept import FastAccept
from order_engine.app.metrics.coalesce import shared_coalescer
from order_engine.app.settings import Settings

ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
JSON = {"Content-Type": "application/json"}
DEAD_REDIS = "redis://127.0.0.1:1/0"


def app_for(database_url: str, redis_url: str, prefix: str, **overrides: Any) -> Litestar:
    return create_app(
        Settings(
            **{
                "database_url": database_url,
                "redis_url": redis_url,
                "queue_name": f"{prefix}-q",  # no worker: orders stay pending
                "key_prefix": prefix,
                "api_rate_limit_per_min": 0,
                "web_ui": False,
                "log_level": "WARNING",
                "log_json": True,
                **overrides,
            }
        )
    )


class Counting:
    """Wraps the app behind the fast path: how many requests reached Litestar."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)


@pytest.fixture
def both(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[tuple[TestClient, TestClient, Counting]]:
    fast_app = app_for(migrated_url, redis_url, f"{key_prefix}-fast")
    assert isinstance(fast_app.asgi_handler, FastAccept)
    behind = Counting(fast_app.asgi_handler._inner)  # noqa: SLF001
    fast_app.asgi_handler._inner = behind  # noqa: SLF001
    slow_app = app_for(migrated_url, redis_url, f"{key_prefix}-slow", http_fast_accept=False)
    assert not isinstance(slow_app.asgi_handler, FastAccept)
    with TestClient(fast_app) as fast, TestClient(slow_app) as slow:
        yield fast, slow, behind


def _shape(response: Any) -> tuple[int, list[tuple[str, str]], Any]:
    """Status, headers in order, and the body, with the order's id taken out."""
    text_ = response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    oid = body.get("orderId") if isinstance(body, dict) else None
    if oid:
        assert response.headers["location"] == f"/api/orders/{oid}"
        text_ = text_.replace(oid, "<id>")
    headers = [(k, v.replace(oid, "<id>") if oid else v) for k, v in response.headers.items()]
    return response.status_code, headers, text_


def test_an_accepted_order_gets_litestars_answer_without_reaching_litestar(
    both: tuple[TestClient, TestClient, Counting],
) -> None:
    fast, slow, behind = both
    for order in (ORDER, {**ORDER, "orderType": "limit", "limitPrice": "1", "timeInForce": "GTC"}):
        got, want = fast.post("/api/orders/execute", json=order), slow.post("/api/orders/execute", json=order)
        assert got.status_code == 201
        assert _shape(got) == _shape(want)  # the same bytes and headers, but for the id
        stored = fast.get(got.headers["location"]).json()
        assert stored["status"] == got.json()["status"] and stored["amountIn"] == order["amountIn"]
    assert behind.calls == 2  # only the two GETs: both POSTs were answered in front of Litestar


def test_an_idempotent_replay_and_a_conflict_answer_as_litestar_does(
    both: tuple[TestClient, TestClient, Counting],
) -> None:
    fast, slow, behind = both
    for client in (fast, slow):
        name = f"fast-{uuid.uuid4()}"  # the two apps share the table, and keys are unique in it
        key = {**JSON, "Idempotency-Key": name}
        first = client.post("/api/orders/execute", content=json.dumps(ORDER), headers=key)
        again = client.post("/api/orders/execute", content=json.dumps(ORDER), headers=key)
        other = client.post("/api/orders/execute", content=json.dumps({**ORDER, "amountIn": "2"}), headers=key)
        assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
        assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
        client.replies = repr((_shape(again), _shape(other))).replace(name, "<key>")  # type: ignore[attr-defined]
    assert fast.replies == slow.replies  # type: ignore[attr-defined]
    # The conflict was found by the use case on the fast path and answered by Litestar's exception handler.
    assert behind.calls == 1


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "-1"}', JSON),
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": 1e3}', JSON),
        (b'{"tokenIn": "SOL", "tokenIn": "BONK", "tokenOut": "USDC", "amountIn": "1"}', JSON),
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "extra": 1}', JSON),
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": "50"}', JSON),
        (b'{"tokenIn": "SOL", "tokenOut": "NOPE", "amountIn": "1"}', JSON),
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "orderType": "limit"}', JSON),
        (b'{"tokenIn": "SOL",', JSON),
        (b"[]", JSON),
        (b"   ", JSON),
        (b"", JSON),
        (json.dumps(ORDER).encode(), {"Content-Type": "text/plain"}),
        (json.dumps(ORDER).encode(), {**JSON, "Idempotency-Key": "k" * 256}),
        (b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "pad": "' + b"x" * 17000 + b'"}', JSON),
    ],
    ids=[
        "negative-amount",
        "exponent",
        "duplicate-key",
        "unknown-field",
        "wrong-type",
        "unknown-token",
        "limit-without-price",
        "truncated-json",
        "not-an-object",
        "blank",
        "empty",
        "not-json",
        "long-key",
        "too-large",
    ],
)
def test_a_refused_request_gets_litestars_own_answer(
    both: tuple[TestClient, TestClient, Counting], body: bytes, headers: dict[str, str]
) -> None:
    fast, slow, behind = both
    got = fast.post("/api/orders/execute", content=body, headers=headers)
    want = slow.post("/api/orders/execute", content=body, headers=headers)
    assert 400 <= got.status_code < 500
    assert _shape(got) == _shape(want)
    assert behind.calls == 1


def test_fast_posts_are_counted_in_the_http_metrics(both: tuple[TestClient, TestClient, Counting]) -> None:
    fast, _, _ = both
    series = 'order_engine_http_requests_total{app_name="order-engine",method="POST",path="/api/orders/execute",status_code="201"}'

    def count() -> float:
        shared_coalescer().flush()
        for line in fast.get("/metrics").text.splitlines():
            if line.startswith(series):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    for _ in range(3):
        assert fast.post("/api/orders/execute", json=ORDER).status_code == 201
    assert count() == before + 3


async def test_an_order_the_queue_refused_is_answered_503_and_written_once(
    migrated_url: str, key_prefix: str, engine: AsyncEngine
) -> None:
    """The use case raised after writing (and closing) the order: Litestar answers its error, it is not re-run."""
    app = app_for(migrated_url, DEAD_REDIS, f"{key_prefix}-fast-dead")
    assert isinstance(app.asgi_handler, FastAccept)
    amount = f"1.{uuid.uuid4().int % 10**9:09d}"  # finds this test's order (its key is released when it closes)
    async with AsyncTestClient(app) as client:
        headers = {**JSON, "Idempotency-Key": f"fast-dead-{uuid.uuid4()}"}
        body = json.dumps({**ORDER, "amountIn": amount})
        response = await client.post("/api/orders/execute", content=body, headers=headers)
    assert response.status_code == 503 and "queue (Redis) unavailable" in response.json()["detail"]
    async with engine.connect() as conn:
        query = text("select status, failure_reason from orders where amount_in::numeric = cast(:a as numeric)")
        rows = (await conn.execute(query, {"a": amount})).all()
    assert [tuple(r) for r in rows] == [("failed", "not accepted: queue unavailable")]


def test_the_fast_path_is_off_with_the_api_rate_limit_on(migrated_url: str, redis_url: str, key_prefix: str) -> None:
    app = app_for(migrated_url, redis_url, f"{key_prefix}-fast-rl", api_rate_limit_per_min=600)
    assert not isinstance(app.asgi_handler, FastAccept)
