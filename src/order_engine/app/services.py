"""The composition root for the API process: built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.settings import Settings
from order_engine.domain.use_cases import SubmitOrder


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    redis: Redis
    repo: SqlOrderRepository
    submit: SubmitOrder
