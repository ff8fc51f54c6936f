"""The API's pub/sub stream outlives a Redis crash: after the restart, status updates flow again.

Litestar's own Redis pub/sub backend ends its stream on the first connection error, which silently
turned every live WebSocket of the API process into a 5 s PostgreSQL poll until the process restarted.
The same happened on any other error from the client beneath it (a fault test caught uvloop's
RuntimeError "the handler is closed" when a reconnect raced an unsubscribe), and the channels plugin
kept a subscriber whose SUBSCRIBE failed, so that order's next watcher was never subscribed in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from fault_servers import RedisServer
from litestar import Litestar
from redis.exceptions import ConnectionError as RedisConnectionError

from order_engine.adapters.notifier import ReconnectingPubSubBackend
from order_engine.adapters.pubsub import OrderChannelsPlugin, SerialisedPubSubBackend
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


async def test_pubsub_stream_survives_any_error_from_the_client(private_redis: RedisServer) -> None:
    backend = SerialisedPubSubBackend(redis=redis_from_url(private_redis.url))
    publisher = redis_from_url(private_redis.url)
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def stream() -> None:
        async for event in backend.stream_events():
            await received.put(event)

    await backend.subscribe(["orders:b"])
    pubsub = backend._pub_sub  # noqa: SLF001
    get_message = pubsub.get_message
    failures = []

    async def failing_once(*args: object, **kwargs: object) -> object:
        if not failures:
            failures.append(1)
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
        return await get_message(*args, **kwargs)

    pubsub.get_message = failing_once  # type: ignore[method-assign]
    task = asyncio.create_task(stream())
    try:
        began = time.monotonic()
        while received.empty():
            assert not task.done(), task
            assert time.monotonic() - began < 5, "no message 5 s after the error"
            await publisher.publish("orders:b", b"after")
            await asyncio.sleep(0.1)
        assert failures == [1]
        assert await received.get() == ("orders:b", b"after")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await backend.on_shutdown()
        await backend._redis.aclose()  # noqa: SLF001
        await publisher.aclose()


async def test_channels_plugin_keeps_no_subscription_the_outage_broke(private_redis: RedisServer) -> None:
    """Subscribe and unsubscribe while Redis is down, then use the same channels after the restart."""
    backend = SerialisedPubSubBackend(redis=redis_from_url(private_redis.url))
    plugin = OrderChannelsPlugin(backend=backend)
    publisher = redis_from_url(private_redis.url)
    registry = plugin._channels  # noqa: SLF001
    async with Litestar(plugins=[plugin]).lifespan():
        watched = await plugin.subscribe("order:1")
        events = watched.iter_events()
        await publisher.publish("order:1", b"before")
        assert await asyncio.wait_for(anext(events), 5) == b"before"

        await asyncio.to_thread(private_redis.kill)
        with pytest.raises(RedisConnectionError):
            await plugin.subscribe("order:2")  # refused: the WebSocket closes 1013 ...
        assert "order:2" not in registry  # ... and leaves nothing registered behind
        await plugin.unsubscribe(watched, "order:1")  # Redis is down: done locally, no error
        assert registry == {}
        await asyncio.to_thread(private_redis.start)

        again = await plugin.subscribe("order:2")  # the next watcher of order 2 is subscribed in Redis
        events = again.iter_events()
        began = time.monotonic()
        delivered = None
        while delivered is None:
            assert time.monotonic() - began < 5, "order:2 not delivered 5 s after Redis came back"
            await publisher.publish("order:2", b"after")
            with contextlib.suppress(TimeoutError):
                delivered = await asyncio.wait_for(anext(events), 0.2)
        assert delivered == b"after"
        assert await publisher.pubsub_channels() == [b"order:2"]  # order:1 was not subscribed again
        await plugin.unsubscribe(again, "order:2")
        assert registry == {}  # no entry left per order ever watched
    await backend._redis.aclose()  # noqa: SLF001
    await publisher.aclose()
