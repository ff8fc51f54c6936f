"""Submitting orders over HTTP and reading back their status histories."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

from bench.client import HttpClient, LoadResult, closed_loop

ORDER_BODY = json.dumps({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "slippageBps": 50}).encode()
HEADERS = {"Content-Type": "application/json"}


def post_order(client: HttpClient) -> bytes:
    return client.request_bytes("POST", "/api/orders/execute", ORDER_BODY, HEADERS)


def order_ids(result: LoadResult) -> list[str]:
    return [json.loads(s.body)["orderId"] for s in result.ok]


async def submit(clients: list[HttpClient], count: int, concurrency: int = 32) -> LoadResult:
    """POST `count` orders as fast as the API takes them, round-robin over `clients`."""
    raws = [post_order(c) for c in clients]
    return await closed_loop(clients, lambda i: raws[i % len(raws)], concurrency, count=count, keep_body=True)


async def wait_terminal(database_url: str, ids: list[str], timeout_s: float, poll_s: float = 0.1) -> float:
    """Until every order in `ids` is confirmed or failed (a light indexed query on PostgreSQL); seconds waited."""
    import asyncpg

    from order_engine_embedded import plain_url

    started = time.monotonic()
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        while True:
            left = await conn.fetchval(
                "select count(*) from orders where id = any($1::uuid[]) and status not in ('confirmed', 'failed')", ids
            )
            if left == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"{left} of {len(ids)} orders still not terminal after {timeout_s}s")
            await asyncio.sleep(poll_s)
    finally:
        await conn.close()


async def fetch_orders(client: HttpClient, ids: list[str], concurrency: int = 16) -> dict[str, dict[str, Any]]:
    """GET /api/orders/{id} for each id (the API's own view, statusHistory included)."""
    raws = [client.request_bytes("GET", f"/api/orders/{oid}") for oid in ids]
    result = await closed_loop(client, lambda i: raws[i], concurrency, count=len(ids), keep_body=True)
    orders = [json.loads(s.body) for s in result.ok]
    if len(orders) != len(ids):
        raise RuntimeError(f"read back {len(orders)} of {len(ids)} orders")
    return {o["orderId"]: o for o in orders}


async def fetch_recent(client: HttpClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The orders in `ids`, read through GET /api/orders (newest first, 100 a page) until all are found.

    Cheaper than one GET per order when `ids` are the newest orders, as they are right after a run."""
    wanted, found = set(ids), {}
    cursor = ""
    while wanted - found.keys():
        path = "/api/orders?limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, body = await client.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        page = json.loads(body)
        found.update({o["orderId"]: o for o in page["orders"] if o["orderId"] in wanted})
        cursor = page["nextCursor"]
        if not cursor:
            break
    if len(found) != len(wanted):
        raise RuntimeError(f"read back {len(found)} of {len(wanted)} orders")
    return found


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def entry(order: dict[str, Any], status: str) -> dict[str, Any] | None:
    for e in reversed(order["statusHistory"]):
        if e["status"] == status:
            return e
    return None


def submit_to_confirmed_ms(order: dict[str, Any]) -> float | None:
    done = entry(order, "confirmed")
    if done is None:
        return None
    return (ts(done["timestamp"]) - ts(order["statusHistory"][0]["timestamp"])) * 1000


async def post_json(client: HttpClient, bodies: list[bytes], path: str = "/api/orders/execute") -> list[dict[str, Any]]:
    """POST each JSON body (32 in flight) and return the answers in order; RuntimeError if any was not 2xx."""
    raws = [client.request_bytes("POST", path, b, HEADERS) for b in bodies]
    result = await closed_loop(client, lambda i: raws[i], 32, count=len(raws), keep_body=True)
    if len(result.ok) != len(bodies):
        raise RuntimeError(f"{len(bodies) - len(result.ok)} of {len(bodies)} POSTs to {path} failed")
    return [json.loads(s.body) for s in result.ok]


async def first_entry_times(conn: Any, ids: list[str], status: str) -> list[float]:
    """When each of `ids` first entered `status` (its entry's own timestamp, epoch seconds), soonest first."""
    rows = await conn.fetch(
        "select min(e->>'timestamp') as ts from orders, jsonb_array_elements(status_history) e"
        " where id = any($1::uuid[]) and e->>'status' = $2 group by id",
        ids,
        status,
    )
    return sorted(datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() for r in rows)
