"""Instructions per order, counted by valgrind (callgrind): what a change costs, independent of the neighbours.

    valgrind --tool=callgrind --callgrind-out-file=OUT python -m bench.instructions N

runs, in this one process, what the API's use case and the worker do for N market orders — SubmitOrder, then
ExecuteOrder through routing, building, the mock chain's swap and its confirmation — on the real PostgreSQL and
Redis of DATABASE_URL / REDIS_URL (a migrated database), with the listeners ORDER_ENGINE_METRICS asks for. Run it
for two Ns and subtract: start-up cancels out, and what is left is the instructions of the orders alone (the
servers' own work is in other processes, not counted). Only the HTTP layer is missing (its middleware is measured
in process: BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from decimal import Decimal

from order_engine.adapters.redis_client import redis_from_url
from order_engine.adapters.sql.pool import create_pool
from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.bootstrap import bootstrap, mock_market, redis_notifier
from order_engine.app.settings import Settings
from order_engine.domain.requests import OrderRequest
from order_engine.domain.status import OrderType


class NoQueue:
    """The queue's part is the worker's job pick-up, which this leaves out: the order is executed right away."""

    async def enqueue(
        self, order_id: uuid.UUID, *, arm: int | None = None, order_type: OrderType = OrderType.MARKET
    ) -> bool:
        return True


async def main(n: int) -> None:
    settings = Settings.from_env()
    pool = await create_pool(settings.sqlalchemy_url, max_size=2)
    redis = redis_from_url(settings.redis_url)
    venues, chain = await mock_market(settings, redis, pool)
    engine = bootstrap(
        settings, repo=SqlOrderRepository(pool), queue=NoQueue(), notifier=redis_notifier(settings, redis),
        venues=venues, chain=chain,
    )  # fmt: skip
    assert engine.execute is not None
    for _ in range(n):
        order = await engine.submit(OrderRequest("SOL", "USDC", Decimal("0.1"), slippage_bps=100))
        done = await engine.execute(order.id, attempt=1)
        assert done is not None and done.status.value == "confirmed", done
    await pool.close()
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
