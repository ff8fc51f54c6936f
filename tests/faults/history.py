"""Jepsen-style bookkeeping for the fault tests: record every request and its answer, then check the end state.

The client side is the history: each POST carries its own Idempotency-Key, and what came back (201 with an
order id, 503 with a reason, or nothing) is recorded with when it was sent. After the fault and the recovery,
the database and the mock chain are read directly and checked against that history:

- every 201 order exists once, is terminal, and has a consistent status history;
- every row is accounted for: it is an order some request was answered 201 for, or one the API closed as
  not accepted (one per 503 saying so, from a queue outage) — nothing else. A row written for a request
  that got a 503 without being closed (its commit's answer was lost with the connection) is accounted
  for once the client's retry with the same key is answered 201 with it, as the tests do;
- no swap executed twice, no `confirmed` without a txHash, and no history that goes backwards.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.25", "slippageBps": 100}
TERMINAL = {"confirmed", "failed"}
RANK = {"pending": 1, "routing": 2, "building": 3, "submitted": 4, "confirmed": 5, "failed": 5}
NOT_ACCEPTED = "not accepted: queue unavailable"


@dataclass
class Op:
    """One POST /api/orders/execute and its answer. `status` None: no answer (timeout, connection reset)."""

    key: str
    sent: float  # seconds since the load started
    took: float
    status: int | None
    order_id: str | None = None
    detail: str = ""
    retry: bool = False
    replayed: bool = False  # Idempotent-Replayed: true (the key's order already existed)

    @property
    def answered(self) -> float:
        return self.sent + self.took


@dataclass
class Load:
    """`clients` concurrent clients, each POSTing an order, pausing `pause_s`, and again, until stopped."""

    client: httpx.AsyncClient
    clients: int = 3
    pause_s: float = 0.1
    ops: list[Op] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)  # the same marks as Unix time, to compare with the rows
    t0: float = field(default_factory=time.monotonic)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    on_accepted: Callable[[str], None] | None = None  # called with the order id of every 201, as it arrives

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, name: str) -> float:
        self.marks[name], self.wall[name] = self.now(), time.time()
        return self.marks[name]

    async def post(self, key: str, *, retry: bool = False) -> Op:
        sent = self.now()
        try:
            response = await self.client.post("/api/orders/execute", json=ORDER, headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            op = Op(key, sent, self.now() - sent, None, detail=repr(exc), retry=retry)
        else:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            op = Op(
                key,
                sent,
                self.now() - sent,
                response.status_code,
                order_id=body.get("orderId") if response.status_code == 201 else None,
                detail=str(body.get("detail", "")) if response.status_code != 201 else "",
                retry=retry,
                replayed=response.headers.get("Idempotent-Replayed") == "true",
            )
        self.ops.append(op)
        if op.order_id and self.on_accepted is not None:
            self.on_accepted(op.order_id)
        return op

    async def _client(self, n: int) -> None:
        while not self._stop.is_set():
            await self.post(f"fault-{n}-{next(self._seq)}-{uuid.uuid4().hex[:8]}")
            try:
                await asyncio.wait_for(self._stop.wait(), self.pause_s)
            except TimeoutError:
                pass

    def start(self) -> Load:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def retry_refused(self) -> list[Op]:
        """What a careful client does after a 503: send the same request with the same key again."""
        refused = [op for op in self.ops if op.status != 201 and not op.retry]
        gate = asyncio.Semaphore(self.clients)  # as many at once as the load had clients, not a burst

        async def again(op: Op) -> Op:
            async with gate:
                return await self.post(op.key, retry=True)

        return list(await asyncio.gather(*(again(op) for op in refused)))

    def between(self, start: float, end: float) -> list[Op]:
        """Requests in flight at any time in [start, end]."""
        return [op for op in self.ops if op.sent <= end and op.answered >= start and not op.retry]

    def acked(self) -> dict[str, str]:
        """order id -> key, for every 201."""
        return {op.order_id: op.key for op in self.ops if op.status == 201 and op.order_id}

    def summary(self) -> dict[str, Any]:
        first = [op for op in self.ops if not op.retry]
        refused = [op for op in first if op.status != 201]
        return {
            "requests": len(first),
            "answers": dict(Counter(op.status for op in first)),
            "retries": dict(Counter(op.status for op in self.ops if op.retry)),
            "replayed": sum(op.replayed for op in self.ops),
            "refusing_s": round(max(op.answered for op in refused) - min(op.sent for op in refused), 2)
            if refused
            else 0,
            "slowest_s": round(max((op.took for op in self.ops), default=0), 3),
        }


@dataclass
class Outage:
    """What `run_outage` saw: marks are seconds since the load started (`load.wall` has them as Unix time)."""

    in_flight: set[str]  # orders answered 201 and not terminal when the server went down
    down: float
    up: float
    stop_s: float  # how long taking the server down took
    start_s: float  # how long until it answered again


async def run_outage(
    load: Load,
    database_url: str,
    stop: Callable[[], float],
    start: Callable[[], float],
    *,
    warmup_s: float,
    outage_s: float,
    after_s: float,
    before_stop: Callable[[set[str]], Awaitable[None]] | None = None,
) -> Outage:
    """Load for `warmup_s`, stop the server, wait `outage_s`, start it, load for `after_s` more, stop the load.

    `stop`/`start` block (they run in a thread, so the clients keep going) and return how long they took;
    `before_stop` gets the orders in flight just before the server goes down.
    """
    load.start()
    try:
        await asyncio.sleep(warmup_s)
        in_flight = await unfinished(database_url, set(load.acked()))
        if before_stop is not None:
            await before_stop(in_flight)
        down = load.mark("down")
        stop_s = await asyncio.to_thread(stop)
        await asyncio.sleep(outage_s)
        start_s = await asyncio.to_thread(start)
        up = load.mark("up")
        await asyncio.sleep(after_s)
    finally:
        await load.stop()  # also when something above failed: no client left running in the session's loop
    return Outage(in_flight, down, up, stop_s, start_s)


# --- reading the end state -------------------------------------------------------------------------


async def read_orders(database_url: str) -> dict[str, dict[str, Any]]:
    """Every row of the orders table, straight from PostgreSQL (not through the API under test)."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT id, status, status_history::text AS history, tx_hash, failure_reason, idempotency_key, attempts"
            " FROM orders"
        )
    finally:
        await conn.close()
    return {str(r["id"]): {**dict(r), "history": json.loads(r["history"])} for r in rows}


async def _unfinished(conn: asyncpg.Connection, ids: set[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM orders WHERE status NOT IN ('confirmed', 'failed')")
    return {str(r["id"]) for r in rows} & ids


async def unfinished(database_url: str, ids: set[str]) -> set[str]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return await _unfinished(conn, ids)
    finally:
        await conn.close()


async def wait_terminal(database_url: str, ids: set[str], bound_s: float) -> tuple[float, set[str]]:
    """Poll (on one connection) until every order in `ids` is terminal or `bound_s` passed:
    (seconds waited, still open)."""
    started = time.monotonic()
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        while True:
            left = await _unfinished(conn, ids)
            waited = time.monotonic() - started
            if not left or waited > bound_s:
                return waited, left
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


def unix_time(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def settled_after(rows: dict[str, dict[str, Any]], ids: set[str], since: float) -> float:
    """Seconds from Unix time `since` until the last of the orders `ids` created before it became terminal."""
    ends = [
        unix_time(row["history"][-1]["timestamp"])
        for order_id, row in rows.items()
        if order_id in ids and row["status"] in TERMINAL and unix_time(row["history"][0]["timestamp"]) < since
    ]
    return max(ends, default=since) - since


async def read_executions(redis_url: str, key_prefix: str) -> dict[str, int]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        raw = await client.hgetall(f"{key_prefix}:chain:executions")
    finally:
        await client.aclose()
    return {k.decode(): int(v) for k, v in raw.items()}


# --- the checks ------------------------------------------------------------------------------------


def history_problems(row: dict[str, Any], executions: int) -> list[str]:
    """What is wrong with one order row; [] when nothing is."""
    history = row["history"]
    statuses = [entry["status"] for entry in history]
    problems: list[str] = []
    if not statuses or statuses[0] != "pending":
        problems.append(f"history does not start pending: {statuses}")
    if statuses and statuses[-1] != row["status"]:
        problems.append(f"status {row['status']} but last history entry {statuses[-1]}")
    if any(s in TERMINAL for s in statuses[:-1]):
        problems.append(f"a terminal status is not the last entry: {statuses}")
    ranks = [RANK[s] for s in statuses]
    if ranks != sorted(ranks):
        problems.append(f"history goes backwards: {statuses}")
    for before, entry in zip(history, history[1:], strict=False):
        if entry["status"] == before["status"] and not {"attempt", "error"} <= set(entry["metadata"]):
            problems.append(f"repeated {entry['status']} entry is not a retry entry: {entry['metadata']}")
    times = [unix_time(entry["timestamp"]) for entry in history]
    if times != sorted(times):
        problems.append(f"history timestamps go backwards: {[e['timestamp'] for e in history]}")
    if executions > 1:
        problems.append(f"swap executed {executions} times")
    if row["status"] == "confirmed" and not (row["tx_hash"] and executions == 1):
        problems.append(f"confirmed with txHash {row['tx_hash']!r} and {executions} executions")
    if row["status"] == "failed" and not row["failure_reason"]:
        problems.append("failed without a reason")
    if row["status"] == "failed" and executions and row["failure_reason"] != "slippage exceeded":
        problems.append(f"swap executed but the order failed: {row['failure_reason']!r}")
    return problems


@dataclass
class Verdict:
    acked: int
    not_accepted: int
    confirmed: int
    failed: int
    problems: list[str]

    def __bool__(self) -> bool:
        return not self.problems


def check(load: Load, rows: dict[str, dict[str, Any]], executions: dict[str, int]) -> Verdict:
    """The final check over the whole history (call it once every 201 order had its chance to finish)."""
    problems: list[str] = []
    acked = load.acked()
    by_key: dict[str, set[str]] = {}
    for op in load.ops:
        if op.status == 201 and op.order_id:
            by_key.setdefault(op.key, set()).add(op.order_id)
    for key, ids in by_key.items():
        if len(ids) > 1:
            problems.append(f"key {key} answered with {len(ids)} different orders: {sorted(ids)}")

    for order_id, key in acked.items():
        row = rows.get(order_id)
        if row is None:
            problems.append(f"LOST: order {order_id} answered 201 is not in the database")
            continue
        if row["status"] not in TERMINAL:
            problems.append(f"order {order_id} answered 201 is still {row['status']}")
        if row["failure_reason"] == NOT_ACCEPTED:
            problems.append(f"order {order_id} answered 201 was closed as not accepted")
        if row["idempotency_key"] not in (key, None):
            problems.append(f"order {order_id} holds key {row['idempotency_key']!r}, not its request's {key!r}")

    not_accepted = 0
    for order_id, row in rows.items():
        problems += [f"order {order_id}: {p}" for p in history_problems(row, executions.get(order_id, 0))]
        if order_id in acked:
            continue
        statuses = [entry["status"] for entry in row["history"]]
        if (
            row["failure_reason"] == NOT_ACCEPTED
            and row["idempotency_key"] is None
            and statuses == ["pending", "failed"]
        ):
            not_accepted += 1
            if executions.get(order_id):
                problems.append(f"order {order_id} closed as not accepted but its swap executed")
        else:
            problems.append(
                f"UNEXPECTED: order {order_id} ({row['status']}, key {row['idempotency_key']!r}) "
                "was never answered 201 and is not closed as not accepted"
            )
    stray = set(executions) - set(rows)
    if stray:
        problems.append(f"swaps executed for orders not in the database: {sorted(stray)[:5]}")

    refused_not_accepted = sum(1 for op in load.ops if op.status == 503 and "not accepted" in op.detail)
    unanswered = sum(1 for op in load.ops if op.status is None)
    if not refused_not_accepted <= not_accepted <= refused_not_accepted + unanswered:
        problems.append(
            f"{not_accepted} orders closed as not accepted, but {refused_not_accepted} answers said so"
            f" (and {unanswered} requests got no answer)"
        )
    statuses = Counter(rows[i]["status"] for i in acked if i in rows)
    return Verdict(len(acked), not_accepted, statuses["confirmed"], statuses["failed"], problems)
