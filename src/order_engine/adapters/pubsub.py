"""Litestar channels over Redis pub/sub, for one short-lived channel per order.

- redis-py's PubSub opens its connection lazily on the first SUBSCRIBE; when many WebSockets subscribe
  at the same moment, each racing SUBSCRIBE opens a connection of its own and only the last one is read,
  so the other sockets' events never arrive. One lock around (un)subscribe keeps every channel on the
  one connection.
- An UNSUBSCRIBE that fails because Redis is gone is done locally instead: the server forgot the
  subscriptions with the connection, and a reconnect must not subscribe the channel again.
- Litestar's ChannelsPlugin keeps an entry for every channel ever subscribed (here: every order id ever
  watched, for the life of the process), and a subscriber whose SUBSCRIBE failed stays registered, so
  the next watcher of that order would never subscribe it in Redis. `OrderChannelsPlugin` keeps an entry
  only while its channel has subscribers, undoes a failed subscribe, and asks the backend to make sure
  every channel a watcher joins is subscribed in Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog
from litestar.channels import ChannelsPlugin, Subscriber
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from order_engine.adapters.notifier import ReconnectingPubSubBackend

log = structlog.get_logger("order_engine.notifier")


class SerialisedPubSubBackend(ReconnectingPubSubBackend):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._subscriptions = asyncio.Lock()

    def is_subscribed(self, channel: str) -> bool:
        key = channel.encode()
        pubsub = self._pub_sub
        return key in pubsub.channels and key not in pubsub.pending_unsubscribe_channels

    async def subscribe(self, channels: Iterable[str]) -> None:
        """SUBSCRIBE the channels not subscribed yet (checked under the lock: no duplicate SUBSCRIBEs)."""
        async with self._subscriptions:
            missing = [channel for channel in channels if not self.is_subscribed(channel)]
            if missing:
                await super().subscribe(missing)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        names = list(channels)
        async with self._subscriptions:
            try:
                await super().unsubscribe(names)
            except (RedisConnectionError, RedisTimeoutError, RuntimeError) as exc:
                self._forget(names)
                await self.drop_connection()
                log.info("pub/sub unsubscribe failed; channels dropped locally", channels=len(names), error=repr(exc))

    def _forget(self, names: list[str]) -> None:
        pubsub = self._pub_sub
        for name in names:
            pubsub.channels.pop(name.encode(), None)
            pubsub.pending_unsubscribe_channels.discard(name.encode())
        if not pubsub.channels:
            self._has_subscribed.clear()


class OrderChannelsPlugin(ChannelsPlugin):
    """ChannelsPlugin whose channel map holds only channels someone watches (see the module docstring).

    Channels are arbitrary (one per order), never declared up front: a declared one would be pruned.
    """

    def __init__(self, *, backend: SerialisedPubSubBackend, **options: Any) -> None:
        if options.get("channels") or options.pop("arbitrary_channels_allowed", True) is not True:
            raise ValueError("OrderChannelsPlugin takes arbitrary channels only")
        super().__init__(backend=backend, arbitrary_channels_allowed=True, **options)

    async def subscribe(self, channels: str | Iterable[str], history: int | None = None) -> Subscriber:
        if history:
            raise ValueError("Redis pub/sub keeps no history")
        names = [channels] if isinstance(channels, str) else list(channels)
        subscriber = self._subscriber_class(
            plugin=self, max_backlog=self._max_backlog, backlog_strategy=self._backlog_strategy
        )
        for name in names:
            self._channels.setdefault(name, set()).add(subscriber)
        try:
            await self._backend.subscribe(names)  # SerialisedPubSubBackend: only what is not subscribed
        except BaseException:
            for name in names:
                self._channels.get(name, set()).discard(subscriber)
            self._prune(names)
            raise
        return subscriber

    async def unsubscribe(self, subscriber: Subscriber, channels: str | Iterable[str] | None = None) -> None:
        names = (
            list(self._channels) if channels is None else [channels] if isinstance(channels, str) else list(channels)
        )
        try:
            await super().unsubscribe(subscriber, names)
        finally:
            self._prune(names)

    def _prune(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self._channels and not self._channels[name]:
                del self._channels[name]
