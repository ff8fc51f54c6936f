"""Litestar channels' Redis pub/sub backend, with subscription changes serialised.

redis-py's PubSub opens its connection lazily on the first SUBSCRIBE; when many WebSockets
subscribe at the same moment, each racing SUBSCRIBE opens a connection of its own and only the
last one is read, so the other sockets' events never arrive (they would fall back to the slow
PostgreSQL re-check). One lock around (un)subscribe keeps every channel on the one connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from order_engine.adapters.notifier import ReconnectingPubSubBackend


class SerialisedPubSubBackend(ReconnectingPubSubBackend):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._subscriptions = asyncio.Lock()

    async def subscribe(self, channels: Iterable[str]) -> None:
        async with self._subscriptions:
            await super().subscribe(channels)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        async with self._subscriptions:
            await super().unsubscribe(channels)
