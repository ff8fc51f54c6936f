"""The composition root for the API process: built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.live.streams import LiveStreams
from order_engine.app.settings import Settings
from order_engine.domain.use_cases import SubmitOrder


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    repo: SqlOrderRepository
    submit: SubmitOrder
    streams: LiveStreams
