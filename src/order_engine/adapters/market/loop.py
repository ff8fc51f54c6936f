"""The market loop: the market's own flow, ticked by one process at a time.

Every process that runs a loop (each worker; the watcher later) competes for one lease in Redis
(`{prefix}:market:lease`, adapters/market/lease.py); only its holder ticks. The loop wakes every tick, and
more often when the lease needs renewing sooner (a third of its TTL), so a dead leader's lease runs out within
LEASE_TTL_S and another process takes over on its next wake-up.

A tick (the leader's): read every pool, compute the tick's trades (adapters/market/flow.py) with an rng
seeded by `ORDER_ENGINE_DEX_SEED` and the tick's number (a counter in Redis, `{prefix}:market:tick`, so a new
leader carries on the sequence), and apply each through `RedisPoolStore.update`: the trade computed on the
pool read is applied to the pool as it stands at commit, compare-and-set and retried, so a swap that races the
tick keeps its effect and the tick's trade lands on top of it (never a lost update), on the events stream like
any change. With volatility 0 there is no trade.

Then, with volatility 0 too (swaps and steering change pools), the leader snapshots to PostgreSQL every pool
whose version changed since its last snapshot, in one statement (adapters/sql/pool_snapshots.py); a new leader
snapshots every pool once (a row never moves back). Should the read find pools missing that the table or its
snapshots had (Redis restarted empty), it first seeds them again from the snapshot (adapters/market/restore.py).

The loop runs on its own task and adds nothing to an order's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

import structlog
from redis.asyncio import Redis

from order_engine.adapters.market.flow import FlowTrade, tick_trades
from order_engine.adapters.market.launch_flow import random_launch
from order_engine.adapters.market.lease import Lease
from order_engine.adapters.market.pools import PoolContention, RedisPoolStore
from order_engine.adapters.market.restore import PoolSnapshots, pool_key, restore_pools
from order_engine.adapters.mock_dex.prices import rng_for
from order_engine.domain import amm
from order_engine.domain.amm import Pool
from order_engine.domain.errors import DomainError
from order_engine.domain.launches import LaunchRequest

log = structlog.get_logger("order_engine.market")

LEASE_TTL_S = 3.0  # a dead leader's lease runs out this long after its last renewal
STOP_TIMEOUT_S = 5.0  # how long `stop` waits for a tick under way before cancelling it


class MarketLoop:
    def __init__(
        self,
        store: RedisPoolStore,
        redis: Redis,
        *,
        prefix: str,
        seed: str | None,
        volatility_bps: float,
        tick_s: float,
        lease_ttl_s: float = LEASE_TTL_S,
        snapshots: PoolSnapshots | None = None,
        table: Sequence[Pool] = (),
        launch: Callable[[LaunchRequest], Awaitable[object]] | None = None,
        launch_every_s: float = 0.0,
    ) -> None:
        self.store = store
        self.lease = Lease(redis, f"{prefix}:market:lease", lease_ttl_s)
        self._redis = redis
        self._tick_key = f"{prefix}:market:tick"
        self._seed = seed
        self.volatility_bps = volatility_bps
        self.tick_s = tick_s
        self.ticks = 0  # ticks this loop ran (as leader)
        self._snapshots = snapshots
        self._table = list(table)  # the starting pools: what must exist, and where a pool never snapshotted comes from
        self._saved: dict[tuple[str, str, str], int] = {}  # the version this loop last snapshotted, per pool
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # Random launches for demos (ORDER_ENGINE_MARKET_LAUNCH_EVERY_S; 0 = never), by the leader only.
        self._launch = launch
        self.launch_every_s = launch_every_s
        self._launch_key = f"{prefix}:market:launches"
        self._last_launch = time.monotonic()
        self.launches = 0  # launches this loop made

    def start(self) -> MarketLoop:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self.run(), name="market-loop")
        return self

    async def stop(self) -> None:
        """Stop ticking (a tick under way finishes first) and give the lease up, so another process takes over
        at once. Cooperative, with cancelling only as the fallback: a cancellation delivered while a redis-py
        (8.1) command was in flight was seen lost (the command returned normally and the loop ticked on)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        while not task.done():  # stuck (Redis hanging): cancel until it takes
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if not task.cancelled() and task.exception() is not None:
            log.error("market loop crashed", error=repr(task.exception()))

    async def run(self) -> None:
        clock = asyncio.get_running_loop()
        renew_every = self.lease.ttl_s / 3
        next_tick = clock.time()
        log.info("market loop started", volatility_bps=self.volatility_bps, tick_s=self.tick_s)
        try:
            while not self._stopping.is_set():
                due = clock.time() >= next_tick
                if due:  # on schedule; a tick that overran skips the ticks it missed rather than bursting
                    next_tick = max(next_tick + self.tick_s, clock.time())
                if await self._lead() and due:
                    try:
                        await self.tick()
                    except Exception as exc:  # an outage must not kill the loop; the next tick retries
                        log.warning("market tick failed", error=repr(exc))
                now = clock.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), max(0.0, min(next_tick, now + renew_every) - now))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.lease.release(), 1)
            log.info("market loop stopped", ticks=self.ticks)

    async def _lead(self) -> bool:
        """Renew or take the lease; logs when this process becomes or stops being the market's leader."""
        was = self.lease.held
        try:
            leader = await self.lease.hold()
        except Exception as exc:
            log.warning("market lease unavailable", error=repr(exc))
            return False
        if leader != was:
            if leader:
                log.info("market leader: this process ticks the market", lease=self.lease.key)
            else:
                log.info("market lease lost to another process", lease=self.lease.key)
        return leader

    async def tick(self) -> list[Pool]:
        """One tick (the caller holds the lease): every pool, as this tick left it."""
        pools = await self._read()
        if self.volatility_bps > 0 and pools:
            number = await self._redis.incr(self._tick_key)
            now = datetime.now(UTC)  # a launch pool before its opening is not traded, by the flow neither
            tradable = [p for p in pools.values() if amm.is_open(p, now)]
            trades = tick_trades(tradable, rng_for(self._seed, "market-flow", number), self.volatility_bps)
            for trade in trades:
                try:
                    pools[(trade.venue, trade.base, trade.quote)] = await self._apply(trade)
                except PoolContention as exc:  # that pool was too busy this tick; the others still move
                    log.warning("market flow skipped a busy pool", venue=trade.venue, error=str(exc))
            log.debug("market tick", tick=number, trades=len(trades))
        await self._snapshot(pools.values())
        await self._maybe_launch()
        self.ticks += 1
        return list(pools.values())

    async def _maybe_launch(self) -> None:
        """Launch a random token if one is due (the launch number, kept in Redis, draws it from the seed)."""
        if self._launch is None or self.launch_every_s <= 0:
            return
        if time.monotonic() - self._last_launch < self.launch_every_s:
            return
        self._last_launch = time.monotonic()
        number = await self._redis.incr(self._launch_key)
        request = random_launch(rng_for(self._seed, "market-launch", number), datetime.now(UTC))
        try:
            await self._launch(request)
        except DomainError as exc:  # a symbol drawn twice (409) or refused: the next one is another draw
            log.info("random launch skipped", symbol=request.symbol, reason=str(exc))
            return
        self.launches += 1
        log.info("random launch", symbol=request.symbol, venue=request.venue, number=number)

    async def _read(self) -> dict[tuple[str, str, str], Pool]:
        pools = {pool_key(p): p for p in await self.store.all()}
        expected = {pool_key(p) for p in self._table} | set(self._saved)
        if self._snapshots is not None and (missing := expected - set(pools)):
            log.warning("market pools missing from Redis: restoring them", missing=len(missing), present=len(pools))
            await restore_pools(self.store, self._snapshots, self._table)
            pools = {pool_key(p): p for p in await self.store.all()}
        return pools

    async def _snapshot(self, pools: Iterable[Pool]) -> None:
        """Save every pool whose version changed since this loop last saved it (one statement)."""
        if self._snapshots is None:
            return
        changed = [p for p in pools if self._saved.get(pool_key(p)) != p.version]
        if not changed:
            return
        written = await self._snapshots.save(changed)
        self._saved.update((pool_key(p), p.version) for p in changed)
        log.debug("market snapshot", changed=len(changed), written=written)

    async def _apply(self, trade: FlowTrade) -> Pool:
        def change(pool: Pool) -> tuple[Pool, Pool]:
            new, _ = amm.swapped(pool, trade.token_in, trade.amount_in_units)
            return new, new

        return await self.store.update(trade.venue, trade.base, trade.quote, change)
