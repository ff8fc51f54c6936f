"""`order-engine watcher`: connect, build the watcher from Settings (app/bootstrap.py), run until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping

import structlog

from order_engine.adapters.lease import RedisLease
from order_engine.adapters.redis_client import redis_from_url
from order_engine.adapters.saq_queue import sniper_lane
from order_engine.adapters.sql.pool import create_pool
from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.bootstrap import (
    bootstrap,
    market_pools,
    order_queue,
    redis_notifier,
    swap_line,
    token_registry,
)
from order_engine.app.runtime.gc_tuning import tune_gc
from order_engine.app.runtime.loop_monitor import watch_loop_lag
from order_engine.app.settings import Settings
from order_engine.app.watcher.service import LEASE_TTL_S, Watcher
from order_engine.domain.status import OrderType

log = structlog.get_logger("order_engine.watcher")


async def serve(settings: Settings) -> None:
    from order_engine.app.worker.jobs import saq_config

    pool = await create_pool(settings.sqlalchemy_url, max_size=4)
    redis = redis_from_url(settings.redis_url)
    # The queue as the API builds it (same serialiser and options): the watcher only enqueues.
    queues = saq_config(settings, web=False, api=True).get_queues()
    saq_queue, sniper_queue = queues.get(settings.queue_name), queues.get(sniper_lane(settings.queue_name))
    registry = token_registry(settings, redis, pool)
    try:
        pools = await market_pools(settings, redis, pool)  # Redis lacking them: from the snapshot
        notifier = redis_notifier(settings, redis)
        engine = bootstrap(
            settings,
            repo=SqlOrderRepository(pool),
            queue=order_queue(settings, saq_queue, sniper_queue),
            notifier=notifier,
            tokens=registry,
            line=swap_line(settings, redis),
        )
        lease = RedisLease(redis, f"{settings.key_prefix}:watcher:lease", ttl_s=LEASE_TTL_S)
        watcher = Watcher(
            repo=engine.submit.repo,
            pools=pools,
            redis=redis,
            trigger=engine.trigger,
            expire=engine.expire,
            lease=lease,
            clock=engine.submit.clock,
            prefix=settings.key_prefix,
            registry=registry,
            on_report=resting_gauge() if settings.metrics else None,
        )
        tune_gc()
        lag = asyncio.create_task(watch_loop_lag(settings.loop_lag_warn_ms / 1000))
        task = asyncio.create_task(watcher.run())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("watcher started", lease=lease.key, token=lease.token)
        await stop.wait()
        task.cancel()
        lag.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            await lease.release()  # a standby takes over at once instead of after the lease's TTL
        await notifier.flush()  # the broadcasts of the last triggers and expiries, before Redis closes
    finally:
        await saq_queue.disconnect()
        await sniper_queue.disconnect()
        await pool.close()
        await redis.aclose()
        log.info("watcher stopped")


def resting_gauge() -> Callable[[Mapping[OrderType, int]], None]:
    from order_engine.app.metrics.catalog import engine_metrics

    metrics = engine_metrics()

    def report(counts: Mapping[OrderType, int]) -> None:
        for kind, count in counts.items():
            metrics.child(metrics.resting, kind.value).set(count)

    return report
