"""Schemathesis against the app's own OpenAPI schema: no input, valid or hostile, gets a 5xx or an off-schema answer.

The real app runs in-process (schemathesis' ASGI transport, which also runs the app's lifespan) on the
real PostgreSQL and Redis; no worker serves its queue, so accepted orders stay pending. Generation is
derandomized: CI sees the same cases on every run. A few hostile inputs the schema-driven generator
cannot produce (bytes that are not UTF-8, NUL in a header, forged cursors) are checked by hand below.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.python import asgi

from order_engine.app.http.app import create_app
from order_engine.app.settings import Settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,  # every status the app answers is documented for the operation
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,  # bodies match the documented models (success and Problem)
    negative_data_rejection,  # input the schema forbids is a 4xx
    unsupported_method,  # undeclared methods are 405 with Allow
]


def app_settings(migrated_url: str, redis_url: str, prefix: str) -> Settings:
    return Settings(
        database_url=migrated_url,
        redis_url=redis_url,
        queue_name=f"{prefix}-q",  # no worker: accepted orders stay pending
        key_prefix=prefix,
        api_rate_limit_per_min=0,
        web_ui=False,
        sim_api=True,  # /api/sim is fuzzed too (it moves only this prefix's pools; launches its tokens)
        log_level="WARNING",
        log_json=True,
    )


@pytest.fixture(scope="module")
def api_schema(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(app_settings(migrated_url, redis_url, f"{key_prefix}-fuzz"))
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)  # starts the app's lifespan
    schema.config.generation.update(modes=["positive", "negative"], deterministic=True)
    try:
        yield schema
    finally:
        asgi.shutdown_lifespans()  # dispose of the app's engine and Redis before the session drops the database


@pytest.fixture(autouse=True)
def _pytest9_node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis' fixture-based schema reads and restores `node._nodeid`, which pytest 9.2 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=80,  # per operation and generation mode, on top of the coverage phase's boundary cases
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_5xx_or_off_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


# -- what the generator cannot produce -------------------------------------------------------------

JSON = {"content-type": "application/json"}
ORDER = b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}'


@pytest.fixture(scope="module")
def client(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[TestClient]:
    app = create_app(app_settings(migrated_url, redis_url, f"{key_prefix}-hostile"))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("content", "headers", "field"),
    [
        (b'{"tokenIn": "\xff", "tokenOut": "USDC", "amountIn": "1"}', JSON, None),  # not UTF-8
        (b'{"tokenIn": "SOL\xc3", "tokenOut": "USDC", "amountIn": "1"}', JSON, None),  # truncated UTF-8
        (ORDER, {**JSON, "Idempotency-Key": "a\x00b"}, "Idempotency-Key"),  # PostgreSQL text cannot hold NUL
        # Deep nesting under 16 KiB: the typed decoder stops at the first bracket where a string belongs.
        (b'{"tokenIn": ' + b"[" * 8000 + b"]" * 8000 + b"}", JSON, "tokenIn"),
    ],
    ids=["invalid utf-8", "truncated utf-8", "NUL in Idempotency-Key", "deep nesting"],
)
def test_hostile_order_bodies_and_headers_are_400(
    client: TestClient, content: bytes, headers: dict[str, str], field: str | None
) -> None:
    response = client.post("/api/orders/execute", content=content, headers=headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["status_code"] == 400 and problem["detail"]
    assert problem.get("field") == field
    if field:
        assert field in problem["detail"]


ID = str(uuid.uuid4())


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(f"0001-01-01T00:00:00+23:59|{ID}"),  # before year 1 in UTC
        _cursor(f"9999-12-31T23:59:59-23:59|{ID}"),  # after year 9999 in UTC
        _cursor(f"2020-01-01T00:00:00|{ID}"),  # no offset: not a cursor this API returns
        _cursor(f"2020-01-01T00:00:00+00:00|{ID}|x"),
        _cursor("2020-01-01T00:00:00+00:00|\x00"),
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
        "%%%",
        "a",
    ],
)
def test_forged_cursor_is_400_naming_it(client: TestClient, cursor: str) -> None:
    response = client.get("/api/orders", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "cursor" and "cursor" in response.json()["detail"]


def test_a_real_cursor_still_pages(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/api/orders/execute", content=ORDER, headers=JSON).status_code == 201
    first = client.get("/api/orders", params={"limit": 2}).json()
    second = client.get("/api/orders", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert first["nextCursor"] and len(second["orders"]) >= 1
    assert not {o["orderId"] for o in first["orders"]} & {o["orderId"] for o in second["orders"]}
