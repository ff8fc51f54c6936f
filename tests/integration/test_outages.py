"""With Redis or PostgreSQL unreachable the API answers 503 naming it — never 500 — and strands nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.app.http.app import create_app
from order_engine.app.settings import Settings

DEAD_REDIS = "redis://127.0.0.1:1/0"
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"
ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}


def settings(database_url: str, redis_url: str, key_prefix: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        queue_name=f"{key_prefix}-outage",
        key_prefix=f"{key_prefix}-outage",
        log_json=True,
        web_ui=False,
    )


@pytest.fixture
async def no_redis(migrated_url: str, key_prefix: str) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings(migrated_url, DEAD_REDIS, key_prefix))
    async with AsyncTestClient(app) as client:
        yield client


@pytest.fixture
async def no_database(redis_url: str, key_prefix: str) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings(DEAD_DATABASE, redis_url, key_prefix))
    async with AsyncTestClient(app) as client:
        yield client


async def test_redis_down_health_names_it(no_redis: AsyncTestClient) -> None:
    response = await no_redis.get("/health")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["redis"].startswith("down")


async def test_redis_down_order_is_refused_and_closed_not_stranded(
    no_redis: AsyncTestClient, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        pending_before = (await conn.execute(text("select count(*) from orders where status = 'pending'"))).scalar()
    response = await no_redis.post("/api/orders/execute", json=ORDER)
    assert response.status_code == 503
    assert "queue (Redis) unavailable" in response.json()["detail"]
    async with engine.connect() as conn:
        pending_after = (await conn.execute(text("select count(*) from orders where status = 'pending'"))).scalar()
        closed = (
            await conn.execute(
                text("select count(*) from orders where failure_reason = 'not accepted: queue unavailable'")
            )
        ).scalar()
    assert pending_after == pending_before
    assert closed >= 1


async def test_database_down_answers_503_for_reads_writes_and_health(no_database: AsyncTestClient) -> None:
    post = await no_database.post("/api/orders/execute", json=ORDER)
    get = await no_database.get("/api/orders/00000000-0000-4000-8000-000000000000")
    health = await no_database.get("/health")
    assert post.status_code == 503 and "database unavailable" in post.json()["detail"]
    assert get.status_code == 503
    assert health.status_code == 503 and health.json()["checks"]["database"].startswith("down")
    assert health.json()["checks"]["redis"] == "ok"


async def test_redis_down_reads_still_work(no_redis: AsyncTestClient) -> None:
    listing = await no_redis.get("/api/orders", params={"limit": 1})
    assert listing.status_code == 200 and "orders" in listing.json()


async def test_database_down_websockets_close_1013_not_an_internal_error(redis_url: str, key_prefix: str) -> None:
    from litestar.exceptions import WebSocketDisconnect
    from litestar.testing import TestClient

    with TestClient(create_app(settings(DEAD_DATABASE, redis_url, key_prefix))) as client:
        with client.websocket_connect("/api/orders/6a1f1f8e-5b1e-4b8e-9d55-1f1f1f1f1f1f/ws") as ws:
            with pytest.raises(WebSocketDisconnect) as watched:
                ws.receive_json()
        with client.websocket_connect("/api/orders/execute") as ws:
            ws.send_json(ORDER)
            error = ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as submitted:
                ws.receive_json()
    assert watched.value.code == 1013 and watched.value.detail == "database unavailable, try again shortly"
    assert error == {"type": "error", "detail": "database unavailable, try again shortly"}
    assert submitted.value.code == 1013


async def test_redis_down_watching_closes_1013(migrated_url: str, key_prefix: str) -> None:
    from litestar.exceptions import WebSocketDisconnect
    from litestar.testing import TestClient

    with TestClient(create_app(settings(migrated_url, DEAD_REDIS, key_prefix))) as client:
        with client.websocket_connect("/api/orders/6a1f1f8e-5b1e-4b8e-9d55-1f1f1f1f1f1f/ws") as ws:
            with pytest.raises(WebSocketDisconnect) as watched:
                ws.receive_json()
    assert watched.value.code == 1013 and watched.value.detail == "queue (Redis) unavailable, try again shortly"
