"""What the API's handlers get (built once in the app's lifespan from bootstrap): ports and process-wide state."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from order_engine.app.live.streams import LiveStreams
from order_engine.app.settings import Settings
from order_engine.domain.ports import MarketView, OrderRepository
from order_engine.domain.use_cases import SubmitOrder


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    repo: OrderRepository
    submit: SubmitOrder
    streams: LiveStreams
    market: MarketView
