"""Hostile first messages to the WebSocket submit, and garbage ids/`since` to the watch socket.

Every bad submit must get one `{"type": "error", ...}` message and then a close with 4400 (bad order)
or 1009 (too big) -- never 1011 or Litestar's 4500 (an unhandled exception), never a hang -- and must
write no order row. The real app runs in-process on the real PostgreSQL and Redis; no worker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from order_engine.app.http.app import create_app
from order_engine.app.settings import Settings

RECEIVE_TIMEOUT_S = 10  # a hang fails the test instead of blocking the suite
VALID = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "orderType": "market", "slippageBps": 50}
BAD_ORDER, TOO_BIG = 4400, 1009
MAX_CLOSE_REASON_BYTES = 123
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases on every run
    database=None,
    # `no_new_orders` is meant to span all examples of a test, not to be reset per example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def client(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[TestClient]:
    settings_ = Settings(
        database_url=migrated_url,
        redis_url=redis_url,
        queue_name=f"{key_prefix}-wsfuzz-q",  # no worker serves it
        key_prefix=f"{key_prefix}-wsfuzz",
        api_rate_limit_per_min=0,
        web_ui=False,
        log_level="WARNING",
        log_json=True,
    )
    with TestClient(create_app(settings_), timeout=RECEIVE_TIMEOUT_S) as test_client:
        yield test_client


@pytest.fixture
def no_new_orders(database_url: str) -> Iterator[None]:
    """Fails the test if it wrote an order row."""

    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval("select count(*) from orders"))
        finally:
            await conn.close()

    def run(coro: Any) -> int:  # asyncio.run, away from the thread of the session's event loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    before = run(count())
    yield
    assert run(count()) == before, "a rejected WebSocket submit wrote an order row"


def submit(client: TestClient, payload: str | bytes) -> tuple[dict[str, Any], WebSocketDisconnect]:
    """Send `payload` as the first frame (binary if bytes); return the error message and the close."""
    with client.websocket_connect("/api/orders/execute") as ws:
        if isinstance(payload, bytes):
            ws.send_bytes(payload)
        else:
            ws.send_text(payload)
        message = ws.receive(timeout=RECEIVE_TIMEOUT_S)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive(timeout=RECEIVE_TIMEOUT_S)
    error = json.loads(message["text"])
    return error, closed.value


def assert_rejected(client: TestClient, payload: str | bytes, code: int = BAD_ORDER) -> dict[str, Any]:
    error, closed = submit(client, payload)
    assert error["type"] == "error" and error["detail"], error
    assert set(error) <= {"type", "detail", "field"}, error
    assert closed.code == code, (closed.code, closed.detail, error)
    assert len(closed.detail.encode()) <= MAX_CLOSE_REASON_BYTES
    return error


# -- hand-picked cases ---------------------------------------------------------------------------

ORDER_JSON = json.dumps(VALID)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("", BAD_ORDER),
        (b"", BAD_ORDER),
        ("{", BAD_ORDER),
        ("not json", BAD_ORDER),
        ("{'tokenIn': 'SOL'}", BAD_ORDER),
        ("null", BAD_ORDER),
        ("[]", BAD_ORDER),
        ('"SOL"', BAD_ORDER),
        ("1e999999", BAD_ORDER),
        (ORDER_JSON + " trailing", BAD_ORDER),
        ('{"tokenIn": "\\ud800", "tokenOut": "USDC", "amountIn": "1"}', BAD_ORDER),  # lone surrogate escape
        ('{"tokenIn": "' + "[" * 8000 + '"}', BAD_ORDER),
        ('{"tokenIn": ' + "[" * 8000 + "]" * 8000 + "}", BAD_ORDER),  # deep nesting within 16 KiB
        ('{"tokenIn": ' + '{"a":' * 2700 + "1" + "}" * 2700 + "}", BAD_ORDER),
        (ORDER_JSON.encode(), BAD_ORDER),  # a binary frame, even of a valid order
        (b"\xff\xfe\x00garbage", BAD_ORDER),
        ("x" * (17 * 1024), TOO_BIG),
        (b"x" * (17 * 1024), TOO_BIG),
        ('{"tokenIn": "' + "é" * (9 * 1024) + '"}', TOO_BIG),  # 9 Ki characters, over 16 KiB as UTF-8
        ("x" * (1024 * 1024), TOO_BIG),
        (b"\x00" * (1024 * 1024), TOO_BIG),
    ],
    ids=lambda v: repr(v[:24]) + (f"..({len(v)})" if len(v) > 24 else "") if isinstance(v, str | bytes) else str(v),
)
def test_malformed_first_frame_is_an_error_and_a_close(
    client: TestClient, no_new_orders: None, payload: str | bytes, code: int
) -> None:
    assert_rejected(client, payload, code)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tokenIn", "\U0001f680" * 16),  # 64 bytes the error repeats: the close reason must still fit in 123
        ("tokenIn", "DOGE"),
        ("tokenOut", "SOL"),
        ("amountIn", "0"),
        ("amountIn", "NaN"),
        ("amountIn", "1e-999999999"),
        ("amountIn", 1e308),
        ("amountIn", True),
        ("slippageBps", 5.0),
        ("slippageBps", 5001),
        ("slippageBps", 10**30),
        ("orderType", "sniper"),
        ("idempotencyKey", ""),
        ("idempotencyKey", "k" * 256),
        ("idempotencyKey", "nul\x00inside"),
        ("leverage", 10),
    ],
)
def test_invalid_order_field_is_named(client: TestClient, no_new_orders: None, field: str, value: Any) -> None:
    error = assert_rejected(client, json.dumps({**VALID, field: value}))
    assert error.get("field") == field and field in error["detail"], error


# -- generated cases -----------------------------------------------------------------------------

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
not_a_string = json_value.filter(lambda v: not isinstance(v, str))
not_an_int = json_value.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
# amountIn takes a decimal string or a JSON number; anything else is the wrong type
not_an_amount = json_value.filter(lambda v: not isinstance(v, str | int | float) or isinstance(v, bool))
WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "tokenIn": not_a_string,
    "tokenOut": not_a_string,
    "amountIn": not_an_amount,
    "orderType": not_a_string,
    "slippageBps": not_an_int,
    "idempotencyKey": not_a_string.filter(lambda v: v is not None),
}


@st.composite
def wrong_type_orders(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    field = draw(st.sampled_from(sorted(WRONG_TYPES)))
    return field, {**VALID, field: draw(WRONG_TYPES[field])}


@FUZZ
@given(case=wrong_type_orders())
def test_wrong_type_for_any_field_is_rejected_naming_it(
    client: TestClient, no_new_orders: None, case: tuple[str, dict[str, Any]]
) -> None:
    field, order = case
    error = assert_rejected(client, json.dumps(order))
    assert error.get("field") == field, error


def _could_be_an_order(value: Any) -> bool:
    return isinstance(value, dict) and {"tokenIn", "tokenOut", "amountIn"} <= value.keys()


@FUZZ
@given(
    payload=st.one_of(
        json_value.filter(lambda v: not _could_be_an_order(v)).map(json.dumps),
        st.dictionaries(st.sampled_from([*VALID, "idempotencyKey", "extra"]), json_value, max_size=6)
        .filter(lambda v: not _could_be_an_order(v))
        .map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=200),
    )
)
def test_garbage_first_frame_is_rejected(client: TestClient, no_new_orders: None, payload: str | bytes) -> None:
    if isinstance(payload, str):
        try:
            decoded = json.loads(payload)
        except ValueError:
            decoded = None
        assume(not _could_be_an_order(decoded))
    assert_rejected(client, payload)


# -- the watch socket ------------------------------------------------------------------------------


def watch_close(client: TestClient, order_id: str, since: str | None = None) -> WebSocketDisconnect:
    params = {} if since is None else {"since": since}
    with client.websocket_connect(f"/api/orders/{quote(order_id, safe='')}/ws", params=params) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive(timeout=RECEIVE_TIMEOUT_S)
    return closed.value


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_since(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("order_id", "since"),
    [
        ("not-a-uuid", None),
        ("12345", None),
        ("\x00", None),
        ("é" * 300, None),
        ("x" * 5000, None),
        (UNKNOWN_ID, "-1"),
        (UNKNOWN_ID, "1.5"),
        (UNKNOWN_ID, "abc"),
        (UNKNOWN_ID, ""),
        (UNKNOWN_ID, " 1"),
        (UNKNOWN_ID, "0x10"),
        (UNKNOWN_ID, "²"),  # str.isdigit() is true for it; int() is not
        (UNKNOWN_ID, "١٢"),  # Arabic-Indic digits
        (UNKNOWN_ID, "9" * 5000),  # beyond int()'s 4300-digit limit
        (UNKNOWN_ID, "9" * 19),
    ],
    ids=lambda v: repr(v[:16]) if isinstance(v, str) else str(v),
)
def test_watch_with_garbage_id_or_since_closes_4400(client: TestClient, order_id: str, since: str | None) -> None:
    closed = watch_close(client, order_id, since)
    assert closed.code == BAD_ORDER, (closed.code, closed.detail)


def test_watch_unknown_order_closes_4404(client: TestClient) -> None:
    assert watch_close(client, UNKNOWN_ID, "0").code == 4404
    assert watch_close(client, UNKNOWN_ID).code == 4404


@FUZZ
@given(
    order_id=st.text(min_size=1, max_size=60).filter(lambda s: "/" not in s and not _is_uuid(s)),
    since=st.none() | st.text(max_size=30),
)
def test_watch_garbage_never_closes_with_an_internal_error(
    client: TestClient, order_id: str, since: str | None
) -> None:
    closed = watch_close(client, order_id, since)
    assert closed.code == BAD_ORDER, (closed.code, closed.detail)


@FUZZ
@given(since=st.text(max_size=30).filter(lambda s: not _is_since(s)))
def test_watch_bad_since_closes_4400(client: TestClient, since: str) -> None:
    closed = watch_close(client, UNKNOWN_ID, since)
    assert closed.code == BAD_ORDER, (closed.code, closed.detail)
