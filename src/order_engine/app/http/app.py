"""The Litestar application factory (the API process's composition root)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.stores.registry import StoreRegistry
from litestar_saq import SAQPlugin
from redis.exceptions import RedisError

from order_engine import __version__
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.quotes import PoolQuotes
from order_engine.adapters.pubsub import OrderChannelsPlugin, SerialisedPubSubBackend
from order_engine.adapters.redis_client import redis_from_url
from order_engine.adapters.saq_enqueue import grouped_enqueue
from order_engine.adapters.saq_queue import sniper_lane
from order_engine.adapters.sql.group_commit import GroupCommitRepository
from order_engine.adapters.sql.pool import create_pool, warm_up
from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.bootstrap import (
    bootstrap,
    launcher,
    market_pools,
    order_queue,
    redis_notifier,
    resting_watch,
    token_registry,
)
from order_engine.app.console import console_routes
from order_engine.app.http.api_docs import openapi_config, redirect_to_trailing_slash
from order_engine.app.http.errors import EXCEPTION_HANDLERS
from order_engine.app.http.examples import add_examples
from order_engine.app.http.fast_accept import FastAccept
from order_engine.app.http.health import health, live
from order_engine.app.http.market import MarketController
from order_engine.app.http.orders import OrdersController
from order_engine.app.http.schemas import StrictStructSchemaPlugin
from order_engine.app.http.security import FailOpenRedisStore, api_rate_limit
from order_engine.app.http.sim import sim_routes
from order_engine.app.live.feed import MarketFeed, market_stream
from order_engine.app.live.routes import execute_over_ws, watch_order
from order_engine.app.live.streams import LiveStreams
from order_engine.app.metrics.exposition import http_metrics, join_multiprocess, metrics_controller
from order_engine.app.metrics.http import CachedLabelsMiddleware
from order_engine.app.metrics.live import StreamMeter
from order_engine.app.metrics.queue_depth import QueueDepth
from order_engine.app.runtime.gc_tuning import tune_gc
from order_engine.app.runtime.logging import configure_logging
from order_engine.app.runtime.loop_monitor import watch_loop_lag
from order_engine.app.services import Services
from order_engine.app.settings import Settings
from order_engine.app.worker.jobs import saq_config

log = structlog.get_logger("order_engine.api")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    join_multiprocess()
    saq = SAQPlugin(saq_config(settings, web=settings.web_ui, api=True))
    for worker in saq.get_workers().values():
        # The API runs no jobs, so it needs no heartbeat thread (whose shutdown logs a spurious crash).
        worker._enable_heartbeat_manager = False  # noqa: SLF001
    redis = redis_from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    backend = SerialisedPubSubBackend(redis=redis_from_url(settings.redis_url))
    channels = OrderChannelsPlugin(backend=backend)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.sqlalchemy_url, max_size=settings.api_db_pool_size)
        queue = saq.get_queue(settings.queue_name)
        snipers = saq.get_queue(sniper_lane(settings.queue_name))
        if settings.group_commit:
            grouped_enqueue(queue)  # accepts made together share a script (adapters/saq_enqueue.py)
            grouped_enqueue(snipers)
        repo = SqlOrderRepository(pool)
        streams = LiveStreams(settings.ws_max_connections, settings.ws_max_per_order, meter=stream_meter(settings))
        store = RedisPoolStore(redis, prefix=settings.key_prefix)
        registry = token_registry(settings, redis, pool)
        notifier = redis_notifier(settings, redis)
        engine = bootstrap(
            settings,
            # Accepts made together share an INSERT, cancels an UPDATE (adapters/sql/group_commit.py).
            repo=GroupCommitRepository(repo) if settings.group_commit else repo,
            queue=order_queue(settings, queue, snipers),
            notifier=notifier,
            market=PoolQuotes(store),
            watch=resting_watch(settings, redis),
            tokens=registry,
        )
        app.state.services = Services(
            settings=settings,
            pool=pool,
            redis=redis,
            repo=repo,
            streams=streams,
            submit=engine.submit,
            cancel=engine.cancel,
            market=store,
            book=repo,
            tokens=registry,
            launch=launcher(settings, registry, store) if settings.sim_api else None,
        )
        app.state.services.feed = MarketFeed(app.state.services)
        try:
            await market_pools(settings, redis, pool)  # the worker seeds them too; an API may start first
        except RedisError as exc:
            log.warning("market pools not seeded at start-up (Redis unavailable)", error=repr(exc))
        try:
            await registry.refresh()
        except Exception as exc:  # Redis or PostgreSQL away: refreshed again when a request names a new token
            log.warning("token registry not loaded at start-up", error=repr(exc))
        if settings.metrics:
            app.state.queue_depth = QueueDepth({"main": queue, "snipers": snipers})
        resync = asyncio.create_task(streams.resync_forever(repo, settings.ws_resync_s))
        warming = asyncio.create_task(warm_up(pool, settings.api_db_pool_size))
        lag = asyncio.create_task(watch_loop_lag(settings.loop_lag_warn_ms / 1000))
        tune_gc()
        log.info("api started", queue=settings.queue_name)
        try:
            yield
        finally:
            resync.cancel()
            warming.cancel()
            lag.cancel()
            await notifier.flush()  # the broadcasts of the last cancels, before Redis closes
            for close in (queue.disconnect, snipers.disconnect, pool.close, redis.aclose):
                try:
                    await close()
                except Exception as exc:  # a dependency already gone must not turn shutdown into a crash
                    log.warning("error while closing", resource=close.__qualname__, error=repr(exc))
            log.info("api stopped")

    rate_limit = api_rate_limit(settings.api_rate_limit_per_min)
    metrics = [metrics_controller(settings)] if settings.metrics else []
    app = Litestar(
        route_handlers=[
            OrdersController,
            MarketController,
            watch_order,
            execute_over_ws,
            market_stream,
            health,
            live,
            *metrics,
            *console_routes(),
        ],
        middleware=[
            redirect_to_trailing_slash("/saq"),
            *([http_metrics().middleware] if settings.metrics else []),
            *([rate_limit.middleware] if rate_limit else []),
        ],
        stores=StoreRegistry(
            default_factory=lambda name: FailOpenRedisStore(redis, namespace=f"{settings.key_prefix}:store:{name}")
        ),
        plugins=[saq, channels, StrictStructSchemaPlugin()],
        lifespan=[lifespan],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(title="order-engine", version=__version__),
        logging_config=None,
        debug=False,
    )
    for router in sim_routes(settings):  # /api/sim, only with ORDER_ENGINE_SIM_API
        app.register(router)
    add_examples(app)  # after the last route: every body and response in /schema has one
    if settings.http_fast_accept and rate_limit is None:
        meter = CachedLabelsMiddleware(app.asgi_handler, http_metrics()) if settings.metrics else None
        app.asgi_handler = FastAccept(app.asgi_handler, lambda: provide_services(app.state), meter)
    return app


def stream_meter(settings: Settings) -> StreamMeter | None:
    if not settings.metrics:
        return None
    from order_engine.app.metrics.catalog import engine_metrics
    from order_engine.app.metrics.coalesce import shared_coalescer
    from order_engine.app.metrics.live import PrometheusStreamMeter

    return PrometheusStreamMeter(engine_metrics(), shared_coalescer())


def provide_services(state: State) -> Services:
    return state.services  # type: ignore[no-any-return]
