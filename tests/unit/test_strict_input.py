"""Amounts as exact decimal strings only, and JSON objects with a key given twice: both refused naming the field."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from order_engine.adapters.wire import decimal_from_json
from order_engine.app.http.schemas import OrderIn, OrderSubmitMessage
from order_engine.app.http.strict_body import reject_duplicate_keys
from order_engine.domain.errors import InvalidOrder
from order_engine.domain.money import parse_amount

ACCEPTED = [
    (b'"1.5"', D("1.5")),
    (b"1.5", D("1.5")),
    (b'"0.000000001"', D("0.000000001")),
    (b'"1000"', D("1000")),
    (b"7", D("7")),
    (b'"0"', D("0")),  # a valid decimal: the order's own rule (> 0) refuses it, naming the field
    (b'"\\u0031.5"', D("1.5")),  # the JSON string's value is "1.5"
]
REFUSED = [
    b'"1_000"',  # Python's Decimal reads it as 1000
    '"１"'.encode(),  # fullwidth digit one
    '"١٢"'.encode(),  # Arabic-Indic twelve
    b'" 1"',
    b'"1 "',
    b'"1\\n"',
    b'"+1"',
    b'"-1"',
    b'"1e2"',
    b'"1E2"',
    b'".5"',
    b'"1."',
    b'"NaN"',
    b'"Infinity"',
    b'""',
    b'"0x10"',
    b"1.5e0",  # decodes to the same Decimal as 1.5: only the raw token tells
    b"15e-1",
    b"-2",
    b"true",
    b"null",
    b"[1]",
    b'{"a": 1}',
]


@pytest.mark.parametrize(("token", "value"), ACCEPTED, ids=[t.decode() for t, _ in ACCEPTED])
def test_plain_decimals_are_read_exactly(token: bytes, value: D) -> None:
    assert decimal_from_json(token, "amountIn") == value


@pytest.mark.parametrize("token", REFUSED, ids=[t.decode() for t in REFUSED])
def test_anything_else_is_refused_naming_the_field(token: bytes) -> None:
    with pytest.raises(InvalidOrder) as info:
        decimal_from_json(token, "amountIn")
    assert info.value.field == "amountIn"
    assert '"1.5"' in info.value.message


@pytest.mark.parametrize("text", ["1_000", "１", " 1", "+1", "1e2", ".5", "1.", "", "1,5"])
def test_query_parameters_follow_the_same_rule(text: str) -> None:
    with pytest.raises(InvalidOrder) as info:
        parse_amount(text, "amountIn")
    assert info.value.field == "amountIn"


def test_the_raw_token_is_what_the_order_body_holds() -> None:
    order = msgspec.json.decode(b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":1.5e0}', type=OrderIn)
    assert bytes(order.amountIn) == b"1.5e0"


BASE = '"tokenOut":"USDC","amountIn":"1"'


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"tokenIn":"SOL",' + BASE + ',"tokenIn":"BONK"}', "tokenIn"),
        ('{"tokenIn":"SOL",' + BASE + ',"amountIn":"1000"}', "amountIn"),
        ('{"tokenIn":"SOL",' + BASE + ',"token\\u0049n":"BONK"}', "tokenIn"),  # the same key in escapes
        ('{"tokenIn":"SOL",' + BASE + ',"idempotencyKey":"a","idempotencyKey":"b"}', "idempotencyKey"),
    ],
    ids=["tokenIn", "amountIn", "escaped", "idempotencyKey"],
)
def test_a_key_given_twice_is_refused_naming_it(body: str, key: str) -> None:
    with pytest.raises(InvalidOrder) as info:
        reject_duplicate_keys(body.encode(), OrderSubmitMessage)
    assert info.value.field == key
    assert "more than once" in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        '{"tokenIn":"SOL",' + BASE + "}",
        '{"tokenIn":"tokenOut",' + BASE + "}",  # a field's name as a value is not a key
        '{"tokenIn":"S\\u004fL",' + BASE + "}",  # escapes in a value
        '{"tokenIn": ',  # not JSON: left to the typed decode, which words it
    ],
    ids=["plain", "name-as-value", "escaped-value", "truncated"],
)
def test_bodies_without_a_repeated_key_pass(body: str) -> None:
    reject_duplicate_keys(body.encode(), OrderSubmitMessage)


class Trigger(msgspec.Struct):
    event: str


class Nested(msgspec.Struct):
    trigger: Trigger | None = None


def test_a_repeated_key_inside_a_nested_object_is_found() -> None:
    with pytest.raises(InvalidOrder) as info:
        reject_duplicate_keys(b'{"trigger":{"event":"a","event":"b"}}', Nested)
    assert info.value.field == "event"


class FreeForm(msgspec.Struct):
    extra: dict[str, int]


def test_free_form_objects_are_always_checked() -> None:
    with pytest.raises(InvalidOrder) as info:
        reject_duplicate_keys(b'{"extra":{"x":1,"x":2}}', FreeForm)
    assert info.value.field == "x"
