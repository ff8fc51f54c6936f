"""Many sockets subscribing at once all get their updates through Redis pub/sub, not the slow fallback."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from client import LIFECYCLE, collect, seqs, statuses
from conftest import StackFactory

pytestmark = pytest.mark.e2e

SOCKETS = 20


async def test_concurrent_subscribers_each_receive_every_update_live(start_stack: StackFactory) -> None:
    # The PostgreSQL re-check is pushed to 60 s: anything arriving sooner came through pub/sub.
    stack = start_stack("fanout", ORDER_ENGINE_WS_RESYNC_S="60", ORDER_ENGINE_DEX_LATENCY_SCALE="0.3")
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        ids = [(await client.post("/api/orders/execute", json=body)).json()["orderId"] for _ in range(SOCKETS)]
    began = time.monotonic()
    streams = await asyncio.gather(*(collect(f"{stack.ws_base}/api/orders/{i}/ws", timeout_s=30) for i in ids))
    took = time.monotonic() - began

    print(f"{SOCKETS} streams finished in {took:.2f}s")
    assert took < 15, f"streams took {took:.1f}s: updates waited for the fallback instead of pub/sub"
    for messages, code in streams:
        snapshot, *updates = messages
        assert code == 1000 and updates and updates[-1]["status"] == "confirmed"
        assert seqs(updates) == list(range(snapshot["seq"] + 1, 6))
        assert [snapshot["status"], *statuses(updates)] == LIFECYCLE[snapshot["seq"] - 1 :]
