"""The SAQ side: queue configuration shared by API and worker, the worker's start-up, and the job that executes
orders.

Two lanes, each a SAQ queue: `{queue_name}` (market and limit orders, under the start-rate limit, with
ORDER_ENGINE_WORKER_CONCURRENCY) and `{queue_name}-snipers` (snipers: no start-rate limit, its own
ORDER_ENGINE_SNIPER_CONCURRENCY). One `order-engine worker` process consumes both (two SAQ workers on one
event loop, `app/cli.py`); each lane's worker builds its own engine at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import structlog
from litestar_saq import QueueConfig, SAQConfig
from redis.asyncio import Redis

from order_engine.adapters.redis_client import reconnecting, redis_from_url
from order_engine.adapters.saq_queue import EXECUTE_TASK, FAILED_TTL_S, KEEPALIVE_S, sniper_lane
from order_engine.adapters.sql.group_commit import GroupCommitRepository
from order_engine.adapters.sql.pool import create_pool
from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.adapters.throttle import RedisStartThrottle
from order_engine.app.bootstrap import (
    bootstrap,
    mock_market,
    order_queue,
    redis_notifier,
    resting_watch,
    start_market_loop,
    swap_line,
    token_registry,
)
from order_engine.app.http.security import operator_guard
from order_engine.app.runtime.gc_tuning import tune_gc
from order_engine.app.runtime.logging import ExpectedErrors, configure_logging
from order_engine.app.runtime.loop_monitor import watch_loop_lag
from order_engine.app.settings import Settings
from order_engine.domain.errors import RetryLater
from order_engine.domain.status import OrderStatus
from order_engine.domain.use_cases import ExecuteOrder
from order_engine.domain.use_cases.recover_orders import RecoverOrders

log = structlog.get_logger("order_engine.worker")

SWEEP_INTERVAL_S = 2  # how often (at most, across all workers: SAQ's sweep takes a lock) dead jobs are looked for
SHUTDOWN_DRAIN_S = 10  # SIGTERM: jobs under way get this long to finish
SNIPER_WARM_CONNECTIONS = 2  # PostgreSQL connections the sniper lane opens at start-up


class OrderFailed(Exception):
    """Marks the SAQ job failed once the order is terminally failed (the order row has the reason)."""


def lane_queues(ctx: dict[str, Any]) -> tuple[Any, Any]:
    """(main lane, sniper lane) queues: those `order-engine worker` put in the context, else this lane's own
    queue for both (a lone worker on one lane)."""
    queues = ctx.get("lanes") or {}
    own = ctx["worker"].queue
    main = next((q for name, q in queues.items() if not name.endswith("-snipers")), own)
    return main, next((q for name, q in queues.items() if name.endswith("-snipers")), main)


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    logging.getLogger("saq").addFilter(ExpectedErrors(RetryLater, OrderFailed))
    snipers = ctx["worker"].queue.name == sniper_lane(settings.queue_name)
    concurrency = settings.sniper_concurrency if snipers else settings.worker_concurrency
    # One connection per concurrent job, plus one for the recovery sweep and one for the market's snapshots. The
    # sniper lane opens a few at start-up: a launch's first sniper must not wait for a connection to be made.
    warm = min(concurrency, SNIPER_WARM_CONNECTIONS) if snipers else 0
    pool = await create_pool(settings.sqlalchemy_url, min_size=warm, max_size=concurrency + 2)
    redis = redis_from_url(settings.redis_url)
    ctx["pool"], ctx["redis"] = pool, redis
    ctx["notifier"] = redis_notifier(settings, redis)  # flushed at shutdown, before Redis closes
    venues, chain = await mock_market(settings, redis, pool)
    registry = token_registry(settings, redis, pool)
    try:
        await registry.refresh()
    except Exception as exc:  # refreshed again when an order names a token this process lacks
        log.warning("token registry not loaded at start-up", error=repr(exc))
    repo = SqlOrderRepository(pool)
    engine = bootstrap(
        settings,
        repo=GroupCommitRepository(repo) if settings.group_commit else repo,
        queue=order_queue(settings, *lane_queues(ctx)),
        notifier=ctx["notifier"],
        venues=venues,
        chain=chain,
        watch=resting_watch(settings, redis),
        tokens=registry,
        line=swap_line(settings, redis),
    )
    ctx["execute"] = engine.execute
    if snipers:  # the sniper lane: no start-rate limit, and the main lane's worker runs the recovery sweep
        ctx["loop_lag"] = asyncio.create_task(watch_loop_lag(settings.loop_lag_warn_ms / 1000))
        log.info("worker started", queue=ctx["worker"].queue.name, lane="snipers", concurrency=concurrency)
        return
    if settings.metrics:
        from order_engine.app.metrics.catalog import engine_metrics

        ctx["metrics"] = engine_metrics()
    if settings.rate_limit:
        ctx["throttle"] = RedisStartThrottle(
            settings.redis_url,
            limit=settings.rate_limit,
            window_s=settings.rate_limit_window_s,
            prefix=settings.key_prefix,
        )
    recover = engine.recover
    ctx["recovery"] = asyncio.create_task(
        recovery_loop(recover, redis, f"{settings.key_prefix}:recovery-lock", settings.recovery_interval_s)
    )
    ctx["loop_lag"] = asyncio.create_task(watch_loop_lag(settings.loop_lag_warn_ms / 1000))
    ctx["market"] = start_market_loop(settings, redis, pool)  # the market's own flow, ticked by one worker at a time
    tune_gc()
    log.info(
        "worker started",
        queue=settings.queue_name,
        concurrency=settings.worker_concurrency,
        dex_latency_scale=settings.dex_latency_scale,
        dex_failure_rate=settings.dex_failure_rate,
    )


async def recovery_loop(recover: RecoverOrders, redis: Redis, lock_key: str, interval_s: float) -> None:
    """At start and every `interval_s`: one worker at a time (a Redis lock) re-schedules stranded orders."""
    while True:
        try:
            if await redis.set(lock_key, "1", nx=True, ex=max(1, int(interval_s))):
                await recover()
        except Exception as exc:  # an outage must not kill the loop; the next round retries
            log.warning("recovery sweep failed", error=repr(exc))
        await asyncio.sleep(interval_s)


async def _keepalive(job: Any, every_s: float) -> None:
    """Touch the job so SAQ's sweep can tell a live job from one whose worker died."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await job.update()
        except Exception as exc:  # a missed heartbeat only risks a (guarded) duplicate attempt
            log.warning("job heartbeat failed", error=repr(exc))


async def shutdown(ctx: dict[str, Any]) -> None:
    for task in ("recovery", "loop_lag"):
        if task in ctx:
            ctx[task].cancel()
    if "market" in ctx:
        await ctx["market"].stop()  # gives the market lease up: another worker ticks on at once
    if "notifier" in ctx:
        await ctx["notifier"].flush()  # the broadcasts of the last jobs' changes, before Redis closes
    if "pool" in ctx:
        await ctx["pool"].close()
    if "redis" in ctx:
        await ctx["redis"].aclose()
    log.info("worker stopped")


async def execute_order(ctx: dict[str, Any], *, order_id: str) -> str | None:
    job = ctx["job"]
    execute: ExecuteOrder = ctx["execute"]
    keepalive = asyncio.create_task(_keepalive(job, KEEPALIVE_S)) if job.heartbeat else None
    with structlog.contextvars.bound_contextvars(order_id=order_id, job_attempt=job.attempts):
        try:
            if "throttle" in ctx:
                waited = await ctx["throttle"].wait_turn()
                if waited > 0:
                    if "metrics" in ctx:
                        ctx["metrics"].rate_waits.inc()
                        ctx["metrics"].rate_wait.observe(waited)
                    if waited > 0.05:
                        log.info("rate limit: order waited for its turn", waited_s=round(waited, 3))
            order = await execute(uuid.UUID(order_id), attempt=job.attempts)
        except RetryLater as exc:
            # Exact exponential backoff (SAQ's own backoff adds full jitter).
            job.retry_delay, job.retry_backoff = exc.delay_s, False
            raise
        finally:
            if keepalive is not None:
                keepalive.cancel()
        if order is not None and order.status is OrderStatus.FAILED:
            job.ttl, job.retries = FAILED_TTL_S, job.attempts  # failed for good: no SAQ retry
            raise OrderFailed(order.failure_reason or "failed")
        return None if order is None else order.status.value


def saq_config(settings: Settings, *, web: bool = True, api: bool = False) -> SAQConfig:
    """`api=True`: the API process only enqueues, so its Redis calls may time out rather than hang
    (a worker's blocking dequeue must not, hence no socket timeout there). Two queues: the main lane and the
    snipers' (see the module's docstring)."""

    def lane(name: str, concurrency: int) -> QueueConfig:
        return QueueConfig(
            dsn=settings.redis_url,
            broker_instance_options={
                **reconnecting(),
                **({"socket_timeout": 5, "socket_connect_timeout": 2} if api else {}),
            },
            name=name,
            tasks=[(EXECUTE_TASK, execute_order)],
            concurrency=concurrency,
            startup=startup,
            shutdown=shutdown,
            separate_process=True,
            shutdown_grace_period_s=SHUTDOWN_DRAIN_S,  # see worker_tuning.drain_then_stop
            # Find jobs whose worker died (no heartbeat for HEARTBEAT_S) within a few seconds.
            timers={"sweep": SWEEP_INTERVAL_S},
        )

    return SAQConfig(
        queue_configs=[
            lane(settings.queue_name, settings.worker_concurrency),
            lane(sniper_lane(settings.queue_name), settings.sniper_concurrency),
        ],
        web_enabled=web,
        web_path="/saq",
        web_guards=[operator_guard(settings.admin_token)] if settings.admin_token else None,
        use_server_lifespan=False,
    )
