"""The API as a Postman collection (v2.1) and an `.http` file, generated from the app's own OpenAPI document.

`order-engine export-collection` writes both under docs/ (a test fails when the committed files differ from what
this makes). Requests come in the order a first session goes: submit each order type, read, list, cancel the limit
order, quote, then the simulation (launch the token the sniper waits for) and the health checks. Every request
carries the example body of its operation and a test of its first success status (newman runs them, in that order,
against a live service); its documented answers are saved as example responses. Postman's format cannot hold a
WebSocket request: the `.http` file and the README show the two WebSocket routes with a runnable client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from order_engine.app.http.examples import OPERATIONS

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
COLLECTION = "order-engine.postman_collection.json"
HTTP_FILE = "order-engine.http"
BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Call:
    """One request of the session: an operation, which of its request examples, what it sets for those after."""

    name: str
    method: str
    path: str
    example: str | None = None  # the request body's example name
    path_values: dict[str, str] = field(default_factory=dict)  # path parameter -> variable
    query: dict[str, str] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)  # variable -> JSON field of the answer


SESSION = (
    Call("Submit a market order", "post", "/api/orders/execute", "market", sets={"orderId": "orderId"}),
    Call("Submit a limit order", "post", "/api/orders/execute", "limit", sets={"limitOrderId": "orderId"}),
    Call("Submit a sniper order", "post", "/api/orders/execute", "sniper", sets={"sniperOrderId": "orderId"}),
    Call("Get an order", "get", "/api/orders/{orderId}", path_values={"orderId": "orderId"}),
    Call("List orders", "get", "/api/orders", query={"orderType": "market", "limit": "20"}),
    Call("Cancel an order", "post", "/api/orders/{orderId}/cancel", path_values={"orderId": "limitOrderId"}),
    Call("Quote", "get", "/api/market/quote", query={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}),
    Call("Prices", "get", "/api/market/prices"),
    Call("Limit order book", "get", "/api/market/book", query={"pair": "SOL/USDC"}),
    Call("Launch a token (sim)", "post", "/api/sim/launches", "launch"),
    Call("Move the market (sim)", "post", "/api/sim/market/move", "to a price"),
    Call("Health", "get", "/health"),
    Call("Liveness", "get", "/health/live"),
)
IDS = ("orderId", "limitOrderId", "sniperOrderId")  # what the submits store for the requests after them

WEBSOCKETS = """\
# WebSocket routes (Postman's collection format cannot hold them). Runnable with the websockets package's own
# client, which ships with order-engine:
#
#   python -m websockets "ws://127.0.0.1:8000/api/orders/<orderId>/ws?since=0"
#       every status of the order from seq 1, one JSON message each; the server closes 1000 after the last
#       (confirmed, failed, cancelled or expired). Without ?since: a snapshot of the latest status first.
#
#   python -m websockets ws://127.0.0.1:8000/api/orders/execute
#       then type (or paste) one order as a line of JSON, e.g.
#       {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "orderType": "market", "slippageBps": 50}
#       and read {"type": "accepted", "orderId": ...} followed by its status stream on the same socket.
#
# An HTTP client with WebSocket support (JetBrains' HTTP client) runs these as they are:

### Watch an order's statuses live
WEBSOCKET ws://{{host}}/api/orders/{{submitMarket.response.body.$.orderId}}/ws?since=0

### Submit an order over the WebSocket and watch it on the same socket
WEBSOCKET ws://{{host}}/api/orders/execute
Content-Type: application/json

{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "orderType": "market", "slippageBps": 50}
"""


def _operation(schema: dict[str, Any], call: Call) -> dict[str, Any]:
    return schema["paths"][call.path][call.method]


def _success(operation: dict[str, Any]) -> int:
    return min(int(code) for code in operation["responses"] if str(code).startswith("2"))


def _guarded(operation: dict[str, Any]) -> bool:
    return "401" in operation["responses"]


def _body(call: Call) -> Any:
    return None if call.example is None else OPERATIONS[(call.method, call.path)]["request"][call.example]


def _check(schema: dict[str, Any]) -> None:
    """Every operation of the schema is in the session (a new route must be added to it), and nothing else."""
    documented = {(m, p) for p, item in schema["paths"].items() for m in item}
    missing = documented - {(c.method, c.path) for c in SESSION}
    unknown = {(c.method, c.path) for c in SESSION} - documented
    if missing or unknown:
        raise ValueError(f"the collection's session lacks {sorted(missing)} or names unknown {sorted(unknown)}")


def postman(schema: dict[str, Any]) -> dict[str, Any]:
    _check(schema)
    folders: dict[str, list[dict[str, Any]]] = {}
    for call in SESSION:
        operation = _operation(schema, call)
        folders.setdefault((operation.get("tags") or ["other"])[0], []).append(_postman_item(call, operation))
    return {
        "info": {
            "name": "order-engine",
            "description": (
                f"{schema['info'].get('description', '')}\n\nGenerated from the OpenAPI document by "
                "`order-engine export-collection`; set `baseUrl` (and `adminToken` where the engine has one). "
                "Run the folders in order: each submit stores its order's id for the requests after it."
            ).strip(),
            "version": schema["info"]["version"],
            "schema": POSTMAN_SCHEMA,
        },
        "variable": [
            {"key": "baseUrl", "value": BASE_URL},
            {"key": "adminToken", "value": ""},
            *({"key": key, "value": ""} for key in IDS),
        ],
        "item": [{"name": name, "item": items} for name, items in folders.items()],
    }


def _postman_item(call: Call, operation: dict[str, Any]) -> dict[str, Any]:
    segments = [s for s in call.path.split("/") if s]
    path = [f":{s[1:-1]}" if s.startswith("{") else s for s in segments]
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}/"
        + "/".join(path)
        + ("?" + "&".join(f"{k}={v}" for k, v in call.query.items()) if call.query else ""),
        "host": ["{{baseUrl}}"],
        "path": path,
    }
    if call.query:
        url["query"] = [{"key": k, "value": v} for k, v in call.query.items()]
    if call.path_values:
        url["variable"] = [{"key": k, "value": "{{" + v + "}}"} for k, v in call.path_values.items()]
    request: dict[str, Any] = {"method": call.method.upper(), "header": [], "url": url}
    if operation.get("description") or operation.get("summary"):
        request["description"] = operation.get("description") or operation.get("summary")
    body = _body(call)
    if body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": json.dumps(body, indent=2), "options": {"raw": {"language": "json"}}}
    if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
        request["header"].append(
            {
                "key": "Idempotency-Key",
                "value": "{{$guid}}",
                "disabled": True,
                "description": "the same key and body answer the same order",
            }
        )
    if _guarded(operation):
        request["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": "{{adminToken}}", "type": "string"}]}
    status = _success(operation)
    tests = [f'pm.test("answers {status}", function () {{ pm.response.to.have.status({status}); }});']
    tests += [f'pm.collectionVariables.set("{var}", pm.response.json().{key});' for var, key in call.sets.items()]
    return {
        "name": call.name,
        "event": [{"listen": "test", "script": {"type": "text/javascript", "exec": tests}}],
        "request": request,
        "response": list(_saved(call, operation, request)),
    }


def _saved(call: Call, operation: dict[str, Any], request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for code, response in operation["responses"].items():
        for media_type, media in (response.get("content") or {}).items():
            for example in media.get("examples", {}).values():
                yield {
                    "name": f"{code} {response.get('description', '')}".strip(),
                    "originalRequest": request,
                    "code": int(code),
                    "header": [{"key": "Content-Type", "value": media_type}],
                    "body": json.dumps(example["value"], indent=2),
                    "_postman_previewlanguage": "json",
                }


def http_file(schema: dict[str, Any]) -> str:
    """The same session for VS Code's REST Client and JetBrains' HTTP client (`# @name` and response variables)."""
    _check(schema)
    names = {var: _ref_name(call) for call in SESSION for var in call.sets}
    lines = [
        f"# order-engine {schema['info']['version']}: every HTTP route, in the order a first session goes.",
        "# Generated by `order-engine export-collection` from the app's OpenAPI document; do not edit by hand.",
        "",
        "@host = 127.0.0.1:8000",
        "@baseUrl = http://{{host}}",
        "@adminToken = change-me",
        "",
    ]
    for call in SESSION:
        operation = _operation(schema, call)
        path = call.path
        for param, var in call.path_values.items():
            path = path.replace("{" + param + "}", "{{" + f"{names[var]}.response.body.$.orderId" + "}}")
        query = ("?" + "&".join(f"{k}={v}" for k, v in call.query.items())) if call.query else ""
        lines += [f"### {call.name} (answers {_success(operation)})"]
        if call.sets:
            lines += [f"# @name {_ref_name(call)}"]
        lines += [f"{call.method.upper()} {{{{baseUrl}}}}{path}{query}"]
        if _guarded(operation):
            lines += ["Authorization: Bearer {{adminToken}}"]
        body = _body(call)
        if body is not None:
            lines += ["Content-Type: application/json", "", json.dumps(body, indent=2)]
        lines += [""]
    return "\n".join(lines) + "\n" + WEBSOCKETS


def _ref_name(call: Call) -> str:
    return "submit" + (call.example or "").title().replace(" ", "")


def write(schema: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    collection, http = out / COLLECTION, out / HTTP_FILE
    collection.write_text(json.dumps(postman(schema), indent=2, ensure_ascii=False) + "\n")
    http.write_text(http_file(schema))
    return [collection, http]
