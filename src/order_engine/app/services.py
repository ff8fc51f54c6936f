"""What the API's handlers get (built once in the app's lifespan from bootstrap): ports and process-wide state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import asyncpg
from redis.asyncio import Redis

from order_engine.app.live.streams import LiveStreams
from order_engine.app.settings import Settings
from order_engine.domain.ports import MarketView, OrderRepository, TokenDirectory
from order_engine.domain.use_cases import SubmitOrder
from order_engine.domain.use_cases.cancel_order import CancelOrder
from order_engine.domain.use_cases.launch_token import LaunchToken


class RestingBook(Protocol):
    async def resting_book(self, symbols: Sequence[str]) -> Sequence[tuple[str, Decimal, Decimal, int]]:
        """(token in, limit price, total amount in, orders) of resting limit orders between `symbols`."""


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    repo: OrderRepository
    submit: SubmitOrder
    cancel: CancelOrder
    streams: LiveStreams
    market: MarketView
    book: RestingBook
    tokens: TokenDirectory | None = None  # launched tokens: refreshed when a request names one this process lacks
    launch: LaunchToken | None = None  # the simulator's launches (ORDER_ENGINE_SIM_API)
    feed: Any = None  # app/live/feed.MarketFeed: the console's market stream (set once the services exist)
