"""The composition root for the API process: built once in the app's lifespan."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.settings import Settings
from order_engine.domain.use_cases import SubmitOrder


@dataclass
class SocketLimits:
    """Caps on live WebSocket streams in this process, in total and per order."""

    max_total: int
    max_per_order: int
    per_order: Counter[uuid.UUID] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.per_order.values())

    @contextmanager
    def admit(self, order_id: uuid.UUID) -> Iterator[str | None]:
        """Yields None when admitted (and holds the slot until exit), else the reason for refusing."""
        if self.total >= self.max_total:
            yield f"too many WebSocket connections on this server (max {self.max_total})"
            return
        if self.per_order[order_id] >= self.max_per_order:
            yield f"too many subscribers for this order (max {self.max_per_order})"
            return
        self.per_order[order_id] += 1
        try:
            yield None
        finally:
            self.per_order[order_id] -= 1
            if not self.per_order[order_id]:
                del self.per_order[order_id]


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    redis: Redis
    repo: SqlOrderRepository
    submit: SubmitOrder
    sockets: SocketLimits
