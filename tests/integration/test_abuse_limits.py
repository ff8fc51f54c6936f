"""Abuse limits on a real app (in-process) over real PostgreSQL and Redis: 429, WebSocket caps, the /saq guard."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from order_engine.app.http.app import create_app
from order_engine.app.settings import Settings

ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}


def client_for(migrated_url: str, redis_url: str, prefix: str, **overrides: object) -> TestClient:
    settings = Settings(
        database_url=migrated_url,
        redis_url=redis_url,
        queue_name=f"{prefix}-q",  # no worker serves this queue: orders stay pending
        key_prefix=prefix,
        log_json=True,
        **overrides,  # type: ignore[arg-type]
    )
    return TestClient(create_app(settings))


@pytest.fixture
def guarded(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[TestClient]:
    with client_for(migrated_url, redis_url, f"{key_prefix}-guard", admin_token="s3cret") as client:
        yield client


def test_saq_ui_needs_the_operator_credential_when_one_is_set(guarded: TestClient) -> None:
    basic = base64.b64encode(b"ops:s3cret").decode()
    wrong = base64.b64encode(b"ops:nope").decode()
    assert guarded.get("/saq/api/queues").status_code == 401
    assert guarded.get("/saq/api/queues").headers["www-authenticate"].startswith("Basic")
    assert guarded.get("/saq/api/queues", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert guarded.get("/saq/api/queues", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    assert guarded.get("/saq/api/queues", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/saq/api/queues", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    # the order API itself is not behind the operator credential
    assert guarded.get("/api/orders").status_code == 200


def test_saq_ui_is_open_without_a_configured_token(migrated_url: str, redis_url: str, key_prefix: str) -> None:
    with client_for(migrated_url, redis_url, f"{key_prefix}-open") as client:
        assert client.get("/saq/api/queues").status_code == 200


def test_per_client_rate_limit_answers_429_with_retry_after(migrated_url: str, redis_url: str, key_prefix: str) -> None:
    with client_for(migrated_url, redis_url, f"{key_prefix}-rl", api_rate_limit_per_min=3) as client:
        codes = [client.get("/api/orders?limit=1").status_code for _ in range(5)]
        limited = client.get("/api/orders?limit=1")
        health = client.get("/health")
    assert codes == [200, 200, 200, 429, 429]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["status_code"] == 429
    assert health.status_code == 200  # health checks are never throttled


def test_websocket_caps_per_order_and_per_process(migrated_url: str, redis_url: str, key_prefix: str) -> None:
    with client_for(migrated_url, redis_url, f"{key_prefix}-ws", ws_max_per_order=1, ws_max_connections=2) as client:
        first_id = client.post("/api/orders/execute", json=ORDER).json()["orderId"]
        second_id = client.post("/api/orders/execute", json=ORDER).json()["orderId"]
        third_id = client.post("/api/orders/execute", json=ORDER).json()["orderId"]
        with client.websocket_connect(f"/api/orders/{first_id}/ws") as first:
            assert first.receive_json()["type"] == "snapshot"
            with client.websocket_connect(f"/api/orders/{first_id}/ws") as again:
                with pytest.raises(WebSocketDisconnect) as per_order:
                    again.receive_json()
            with client.websocket_connect(f"/api/orders/{second_id}/ws") as second:
                assert second.receive_json()["seq"] == 1
                with client.websocket_connect(f"/api/orders/{third_id}/ws") as third:
                    with pytest.raises(WebSocketDisconnect) as per_process:
                        third.receive_json()
    assert per_order.value.code == 1013 and "this order" in per_order.value.detail
    assert per_process.value.code == 1013 and "this server" in per_process.value.detail
