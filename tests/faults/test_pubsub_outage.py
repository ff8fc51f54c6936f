"""The API's pub/sub stream outlives a Redis crash: after the restart, status updates flow again.

Litestar's own Redis pub/sub backend ends its stream on the first connection error, which silently
turned every live WebSocket of the API process into a 5 s PostgreSQL poll until the process restarted.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from fault_servers import RedisServer

from order_engine.adapters.notifier import ReconnectingPubSubBackend
from order_engine.adapters.redis_client import redis_from_url

pytestmark = pytest.mark.faults


async def test_pubsub_stream_resubscribes_after_redis_restarts(private_redis: RedisServer) -> None:
    subscriber = ReconnectingPubSubBackend(redis=redis_from_url(private_redis.url))
    publisher = ReconnectingPubSubBackend(redis=redis_from_url(private_redis.url))
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def stream() -> None:
        async for event in subscriber.stream_events():
            await received.put(event)

    await subscriber.subscribe(["orders:a"])
    task = asyncio.create_task(stream())
    try:
        await publisher.publish(b"before", ["orders:a"])
        assert await asyncio.wait_for(received.get(), 5) == ("orders:a", b"before")

        await asyncio.to_thread(private_redis.kill)
        await asyncio.sleep(2)  # the stream hits the outage and keeps retrying
        await asyncio.to_thread(private_redis.start)
        assert not task.done(), task

        # Published after the restart, until the stream has re-subscribed (what was sent before is lost).
        restarted = time.monotonic()
        while received.empty():
            assert time.monotonic() - restarted < 5, "no message 5 s after Redis came back"
            await publisher.publish(b"after", ["orders:a"])
            await asyncio.sleep(0.1)
        assert await received.get() == ("orders:a", b"after")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for backend in (subscriber, publisher):
            await backend.on_shutdown()
            await backend._redis.aclose()  # noqa: SLF001
