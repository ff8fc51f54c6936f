"""The composition root: the one place that builds the engine's use cases from Settings and adapters.

The API, the worker (and the watcher, when it comes) each open their own connections, then ask `bootstrap`
for the engine; every adapter can be swapped (tests pass fakes), as in cosmicpython's `bootstrap.py`. The
listeners are chosen here too: every process logs every event; a process that changes statuses broadcasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import attrs
from redis.asyncio import Redis

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.market.loop import MarketLoop
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.registry import RedisTokenRegistry, mint_for
from order_engine.adapters.market.restore import restore_pools
from order_engine.adapters.market.table import LAUNCH_FEE_BPS, VENUE_FEES_BPS, default_pools
from order_engine.adapters.mock_dex.chain import RedisMockChain
from order_engine.adapters.mock_dex.venue import default_venues
from order_engine.adapters.notifier import RedisStatusNotifier
from order_engine.adapters.resting_watch import RedisRestingWatch
from order_engine.adapters.saq_queue import SaqOrderQueue
from order_engine.adapters.sql.launches import SqlLaunchStore
from order_engine.adapters.sql.pool_snapshots import SqlPoolSnapshots
from order_engine.adapters.swap_line import RedisSwapLine
from order_engine.app.listeners import broadcaster, event_bus
from order_engine.app.settings import Settings
from order_engine.domain.amm import Pool
from order_engine.domain.events import EventBus, Listener
from order_engine.domain.ports import (
    Clock,
    DexVenue,
    MarketQuotes,
    OrderQueue,
    OrderRepository,
    RestingWatch,
    StatusNotifier,
    SwapExecutor,
    SwapLine,
    TokenDirectory,
)
from order_engine.domain.requests import Policy
from order_engine.domain.use_cases import ExecuteOrder, SubmitOrder
from order_engine.domain.use_cases.cancel_order import CancelOrder
from order_engine.domain.use_cases.launch_token import LaunchToken
from order_engine.domain.use_cases.recover_orders import RecoverOrders
from order_engine.domain.use_cases.resting import ExpireOrders, TriggerOrders


@attrs.frozen
class Engine:
    events: EventBus
    submit: SubmitOrder
    cancel: CancelOrder
    recover: RecoverOrders
    trigger: TriggerOrders
    expire: ExpireOrders
    execute: ExecuteOrder | None  # only where a venue and a chain are given (the worker)


def bootstrap(
    settings: Settings,
    *,
    repo: OrderRepository,
    queue: OrderQueue,
    clock: Clock | None = None,
    notifier: StatusNotifier | None = None,
    venues: Sequence[DexVenue] | None = None,
    chain: SwapExecutor | None = None,
    market: MarketQuotes | None = None,
    watch: RestingWatch | None = None,
    tokens: TokenDirectory | None = None,
    line: SwapLine | None = None,
    listeners: Sequence[Listener] = (),
) -> Engine:
    clock = clock or SystemClock()
    if settings.metrics:
        from order_engine.app.metrics.catalog import engine_metrics
        from order_engine.app.metrics.listener import metrics_listener

        listeners = (*listeners, metrics_listener(engine_metrics()))
    events = event_bus(*([broadcaster(notifier)] if notifier is not None else []), *listeners)
    execute = None
    if venues is not None and chain is not None:
        execute = ExecuteOrder(
            repo=repo,
            venues=venues,
            chain=chain,
            events=events,
            clock=clock,
            max_attempts=settings.max_attempts,
            retry_base_s=settings.retry_delay_base_s,
            watch=watch,
            tokens=tokens,
            line=line,
            turn_wait_s=settings.sniper_turn_wait_s,
        )
    policy = Policy(
        limit_max_age=timedelta(seconds=settings.limit_max_age_s),
        sniper_max_age=timedelta(seconds=settings.sniper_max_age_s),
    )
    return Engine(
        events=events,
        submit=SubmitOrder(
            repo=repo,
            queue=queue,
            clock=clock,
            events=events,
            market=market,
            watch=watch,
            policy=policy,
            tokens=tokens,
        ),
        cancel=CancelOrder(repo=repo, clock=clock, events=events, watch=watch),
        trigger=TriggerOrders(repo=repo, queue=queue, clock=clock, events=events, line=line),
        expire=ExpireOrders(repo=repo, clock=clock, events=events),
        recover=RecoverOrders(
            repo=repo, queue=queue, clock=clock, events=events, stale_after_s=settings.recovery_stale_after_s
        ),
        execute=execute,
    )


def order_queue(settings: Settings, queue: Any, snipers: Any = None) -> SaqOrderQueue:
    """The OrderQueue every process uses, so API enqueues and recovery enqueues match. `snipers` is the sniper
    lane's queue (`{queue_name}-snipers`); its jobs never wait for the start-rate limit, so their timeout is the
    attempt's alone."""
    return SaqOrderQueue(
        queue,
        max_attempts=settings.max_attempts,
        timeout_s=settings.job_timeout_total_s,
        retry_delay_s=settings.retry_delay_base_s,
        snipers=snipers,
        sniper_timeout_s=settings.job_timeout_s,
    )


def token_registry(settings: Settings, redis: Redis, pool: Any | None) -> RedisTokenRegistry:
    """The shared registry of launched tokens (PostgreSQL its durable copy, where the process has a pool)."""
    return RedisTokenRegistry(
        redis,
        prefix=settings.key_prefix,
        store=None if pool is None else SqlLaunchStore(pool, prefix=settings.key_prefix),
    )


def launcher(settings: Settings, registry: RedisTokenRegistry, pools: RedisPoolStore) -> LaunchToken:
    """Launches: Meteora's launch pools start at LAUNCH_FEE_BPS, decaying to its normal fee over
    ORDER_ENGINE_LAUNCH_FEE_DECAY_S (its anti-sniper fee schedule); Raydium's trade at their normal fee."""
    return LaunchToken(
        registry=registry,
        pools=pools,
        clock=SystemClock(),
        mint_for=lambda symbol: mint_for(symbol, settings.dex_seed),
        fee_bps=VENUE_FEES_BPS,
        launch_fee_bps=LAUNCH_FEE_BPS,
        fee_decay_ms=round(settings.launch_fee_decay_s * 1000),
    )


def market_table(settings: Settings) -> list[Pool]:
    """The pools the market starts with (adapters/market/table.py)."""
    return default_pools(seed=settings.dex_seed, depth_scale=Decimal(str(settings.market_depth_scale)))


async def market_pools(settings: Settings, redis: Redis, db: asyncpg.Pool) -> RedisPoolStore:
    """The venues' pools in Redis, created by whichever process starts first and never reset: those Redis lacks
    come from the PostgreSQL snapshot, or from the starting table if never snapshotted (adapters/market/restore.py)."""
    pools = RedisPoolStore(redis, prefix=settings.key_prefix)
    await restore_pools(pools, SqlPoolSnapshots(db, prefix=settings.key_prefix), market_table(settings))
    return pools


async def mock_market(settings: Settings, redis: Redis, db: asyncpg.Pool) -> tuple[list[DexVenue], RedisMockChain]:
    """The mock Raydium and Meteora, quoting from their pools, and the mock chain whose swaps trade them."""
    pools = await market_pools(settings, redis, db)
    venues = default_venues(
        pools, latency_scale=settings.dex_latency_scale, failure_rate=settings.dex_failure_rate, seed=settings.dex_seed
    )
    chain = RedisMockChain(
        redis,
        prefix=settings.key_prefix,
        latency_scale=settings.dex_latency_scale,
        failure_rate=settings.dex_failure_rate,
        seed=settings.dex_seed,
        drift_bps=settings.dex_drift_bps,
        drift_mean_bps=settings.dex_drift_mean_bps,
        pools=pools,
    )
    return list(venues), chain


def start_market_loop(settings: Settings, redis: Redis, db: asyncpg.Pool) -> MarketLoop:
    """The market's own flow and its snapshots (adapters/market/loop.py), started on its own task: every process
    that can tick the market starts one (only the lease's holder ticks); `await loop.stop()` gives the lease up."""
    return MarketLoop(
        RedisPoolStore(redis, prefix=settings.key_prefix),
        redis,
        prefix=settings.key_prefix,
        seed=settings.dex_seed,
        volatility_bps=settings.market_volatility_bps,
        tick_s=settings.market_tick_s,
        snapshots=SqlPoolSnapshots(db, prefix=settings.key_prefix),
        table=market_table(settings),
        launch=launcher(
            settings, token_registry(settings, redis, db), RedisPoolStore(redis, prefix=settings.key_prefix)
        )
        if settings.market_launch_every_s > 0
        else None,
        launch_every_s=settings.market_launch_every_s,
    ).start()


def redis_notifier(settings: Settings, redis: Redis) -> RedisStatusNotifier:
    return RedisStatusNotifier(redis, settings.key_prefix)


def resting_watch(settings: Settings, redis: Redis) -> RedisRestingWatch:
    return RedisRestingWatch(redis, prefix=settings.key_prefix)


def swap_line(settings: Settings, redis: Redis) -> RedisSwapLine:
    """The launches' swap lines: the watcher joins triggered snipers to them, the workers wait their turn."""
    return RedisSwapLine(redis, prefix=settings.key_prefix)
