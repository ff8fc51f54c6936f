"""Every request body and every response in the OpenAPI schema has an example, and each example is valid against
the schema it illustrates (so the docs, the Postman collection and the .http file show requests the API takes and
answers it gives)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from order_engine.app.http.app import create_app
from order_engine.app.http.examples import served_schema
from order_engine.app.settings import Settings


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    settings = Settings(database_url="postgresql://docs@127.0.0.1/docs", redis_url="redis://127.0.0.1:1", sim_api=True)
    return served_schema(create_app(settings))


def media_types(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body:
                for media in body["content"].values():
                    yield f"{method.upper()} {path} request", media
            for code, response in operation["responses"].items():
                for media in (response.get("content") or {}).values():
                    yield f"{method.upper()} {path} {code}", media


def test_every_body_and_response_has_an_example_valid_against_its_schema(schema: dict[str, Any]) -> None:
    seen = 0
    for where, media in media_types(schema):
        assert media.get("examples"), f"{where} has no example"
        validator = jsonschema_rs.validator_for({**media["schema"], "components": schema["components"]})
        for name, example in media["examples"].items():
            errors = [e.message for e in validator.iter_errors(example["value"])]
            assert not errors, f"{where} example {name!r}: {errors}"
            seen += 1
    assert seen == 58  # 11 operations: 3 bodies (7 examples) and 51 documented statuses


def test_the_three_order_types_are_examples_of_the_submit_body(schema: dict[str, Any]) -> None:
    examples = schema["paths"]["/api/orders/execute"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert {e["value"]["orderType"] for e in examples.values()} == {"market", "limit", "sniper"}
