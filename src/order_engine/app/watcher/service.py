"""The watcher: one active process (under a Redis lease) that follows the market and the resting orders.

While active it keeps every resting limit order in a `RestingIndex` and every pool in memory, and follows two
Redis streams from where its snapshot was taken: the pools' changes (`{prefix}:market:events`, written by the
same script as each change) and resting notices (`{prefix}:watch`: an order started or stopped resting). A pool
change re-checks only its pair's candidates; a notice brings that order from PostgreSQL. Expiries come from
the index's heap: the stream read blocks no longer than until the next one. Every RECONCILE_S it also asks
PostgreSQL for orders that rested recently, in case a notice was lost (an API killed between its commit and
its XADD). On taking over it rebuilds everything from PostgreSQL and re-checks every resting order against the
current market, so a limit crossed while no watcher ran triggers at takeover.

Snipers: the index also keeps waiting snipers by the token they want. A pool created for that token (its first
entry on the events stream), a pool's opening coming due (scheduled like expiries: the read blocks no longer
than until the next opening), and a sniper being indexed (a notice, a reconciliation, a takeover) each judge
the snipers wanting that token (domain/snipers.evaluate): those that qualify are triggered in one batch, in
submission order; one the launch fails is logged and keeps waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import attrs
import structlog
from redis.asyncio import Redis

from order_engine.adapters.lease import RedisLease
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.registry import RedisTokenRegistry
from order_engine.adapters.market.table import orient
from order_engine.adapters.resting_watch import watch_stream
from order_engine.domain import amm
from order_engine.domain.amm import Pool
from order_engine.domain.limits import effective_price
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order
from order_engine.domain.payloads import Expired, Triggered
from order_engine.domain.ports import Clock, OrderRepository
from order_engine.domain.resting_index import Direction, RestingIndex, best_effective_price, direction, wanted_key
from order_engine.domain.snipers import evaluate, submission_order
from order_engine.domain.status import OrderType
from order_engine.domain.tokens import market_symbol, token
from order_engine.domain.use_cases.resting import ExpireOrders, TriggerOrders

log = structlog.get_logger("order_engine.watcher")

LEASE_TTL_S = 3.0  # a dead watcher's lease runs out this long after its last renewal ...
RENEW_EVERY_S = 1.0  # ... while a live one renews it this often
STANDBY_POLL_S = 0.5  # how often a standby watcher tries to take the lease
RECONCILE_S = 5.0  # how often PostgreSQL is asked for recently rested orders
RECONCILE_MARGIN_S = 30.0  # ... looking back this much further (clock skew between hosts, slow commits)
REBUILD_PAGE = 5000
READ_COUNT = 5000  # stream entries per read
EXPIRED_AT_MAX_AGE = "expired: it reached its time in force"


class LeaseLost(Exception):
    """Another watcher holds the lease now: this one stands by."""


@attrs.define
class Watcher:
    repo: OrderRepository
    pools: RedisPoolStore
    redis: Redis
    trigger: TriggerOrders
    expire: ExpireOrders
    lease: RedisLease
    clock: Clock
    prefix: str
    index: RestingIndex = attrs.field(factory=RestingIndex)
    market: dict[tuple[str, str], dict[str, Pool]] = attrs.field(factory=lambda: defaultdict(dict))
    active: bool = False
    registry: RedisTokenRegistry | None = None  # launched tokens and their authorities (snipers' safety checks)
    on_report: Callable[[Mapping[OrderType, int]], None] | None = None  # the resting count by type (metrics)
    _cursors: dict[str, str] = attrs.field(factory=dict)
    _renewed: float = 0.0  # monotonic time of the last renewal
    _openings: list[tuple[int, str, str]] = attrs.field(factory=list)  # (opens at, Unix ms; base; quote)
    _arrived_snipers: set[str] = attrs.field(factory=set)  # wanted tokens of snipers indexed since the last check

    @property
    def streams(self) -> tuple[str, str]:
        return self.pools.events_key, watch_stream(self.prefix)

    async def run(self) -> None:
        """Stand by until the lease is free, then watch until it is lost; forever (cancel to stop)."""
        while True:
            try:
                if await self.lease.acquire():
                    await self._active()
            except LeaseLost:
                log.warning("watcher lease lost; standing by")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # PostgreSQL or Redis away: stand by, try again (and rebuild) shortly
                log.warning("watcher interrupted; retrying", error=repr(exc))
            self.active = False
            await asyncio.sleep(STANDBY_POLL_S)

    async def _keep_lease(self) -> None:
        """Renew the lease if a renewal is due; LeaseLost if another watcher holds it now. Called between pages
        of long work too (a rebuild of 100,000 orders outlasts the lease), so that long work never loses it."""
        if time.monotonic() - self._renewed < RENEW_EVERY_S:
            return
        if not await self.lease.renew():
            raise LeaseLost(self.lease.key)
        self._renewed = time.monotonic()
        if self.active:
            await self._report()

    async def _active(self) -> None:
        self._renewed = time.monotonic()  # just acquired
        started = time.perf_counter()
        # The streams' positions first, then the snapshot: whatever happens in between is read again (harmless).
        for stream in self.streams:
            last = await self.redis.xrevrange(stream, count=1)
            self._cursors[stream] = last[0][0].decode() if last else "0-0"
        if self.registry is not None:
            await self.registry.refresh()
        await self._load_market()
        await self._rebuild()
        self.active = True
        log.info(
            "watcher active: rebuilt from PostgreSQL",
            resting=len(self.index),
            pools=sum(len(v) for v in self.market.values()),
            rebuild_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        await self._report()
        await self._check(self.index.directions())
        await self._check_snipers(self.index.wanted())  # every sniper: a launch may have come while none watched
        await self._expire_due()
        reconcile_at = time.monotonic()
        last_reconcile = self.clock.now()
        while True:
            await self._keep_lease()
            now = time.monotonic()
            if now >= reconcile_at:
                since, last_reconcile = last_reconcile - timedelta(seconds=RECONCILE_MARGIN_S), self.clock.now()
                await self._reconcile(since)
                reconcile_at = now + RECONCILE_S
            await self._follow(min(self._renewed + RENEW_EVERY_S, reconcile_at) - time.monotonic())
            await self._open_due()
            await self._expire_due()

    async def _follow(self, timeout_s: float) -> None:
        """Read both streams (blocking up to the next expiry, renewal or reconciliation) and act on them."""
        next_expiry = self.index.next_expiry()
        if next_expiry is not None:
            timeout_s = min(timeout_s, (next_expiry - self.clock.now()).total_seconds())
        if self._openings:
            timeout_s = min(timeout_s, (self._openings[0][0] - amm.unix_ms(self.clock.now())) / 1000)
        block_ms = max(1, int(timeout_s * 1000))
        replies = await self.redis.xread(dict(self._cursors), count=READ_COUNT, block=block_ms)
        changed: set[Direction] = set()
        arrived: set[uuid.UUID] = set()
        launched: set[str] = set()
        for stream, entries in replies or []:
            name = stream.decode()
            for entry_id, fields in entries:
                self._cursors[name] = entry_id.decode()
                if name == self.pools.events_key:
                    moved, created = await self._pool_changed({k.decode(): v.decode() for k, v in fields.items()})
                    changed |= moved
                    launched |= created
                elif fields.get(b"kind") == b"gone":
                    self.index.remove(uuid.UUID(fields[b"id"].decode()))
                    arrived.discard(uuid.UUID(fields[b"id"].decode()))
                else:
                    arrived.add(uuid.UUID(fields[b"id"].decode()))
        if arrived:
            changed |= self._index(await self.repo.get_many(list(arrived)))
        await self._check(changed)
        await self._check_snipers(launched | self._take_arrived())

    def _index(self, orders: Iterable[Order]) -> set[Direction]:
        """Index resting orders; the directions of the limits among them (the snipers' tokens are noted for
        `_check_snipers`)."""
        directions = set()
        for order in orders:
            if not self.index.add(order):
                continue
            if order.order_type is OrderType.SNIPER:
                self._arrived_snipers.add(wanted_key(order))
            else:
                directions.add(direction(order))
        return directions

    def _take_arrived(self) -> set[str]:
        arrived, self._arrived_snipers = self._arrived_snipers, set()
        return arrived

    async def _pool_changed(self, fields: dict[str, str]) -> tuple[set[Direction], set[str]]:
        """(directions whose limits to re-check, tokens of a pool created now: the snipers' launch)."""
        _, venue, pair = fields["key"].rsplit(":", 2)
        base, quote = pair.split("/", 1)
        known = self.market[(base, quote)].get(venue)
        version = int(fields["version"])
        created: set[str] = set()
        if known is None:
            pool = await self.pools.get(venue, base, quote)
            if pool is None:
                return set(), set()
            created = {base, quote}
            self._schedule_opening(pool)
            if self.registry is not None and (token(base) is None or token(quote) is None):
                await self.registry.refresh()  # a launch: its token was registered before its pool was created
        elif version <= known.version:
            return set(), set()
        else:
            pool = attrs.evolve(
                known,
                base_reserve=int(fields["base_reserve"]),
                quote_reserve=int(fields["quote_reserve"]),
                version=version,
            )
        self.market[(base, quote)][venue] = pool
        return {(base, quote), (quote, base)}, created

    def _schedule_opening(self, pool: Pool) -> None:
        if pool.opens_at_ms > amm.unix_ms(self.clock.now()):
            heapq.heappush(self._openings, (pool.opens_at_ms, pool.base, pool.quote))

    async def _open_due(self) -> None:
        """Pools whose opening has come: the snipers waiting for their tokens are judged now."""
        now_ms = amm.unix_ms(self.clock.now())
        due: set[str] = set()
        while self._openings and self._openings[0][0] <= now_ms:
            _, base, quote = heapq.heappop(self._openings)
            due |= {base, quote}
        if due:
            await self._check_snipers(due)

    def _pools_for(self, tin: str, tout: str) -> list[Pool]:
        """The pair's pools that trade now, each at its fee of this moment (limits see what a swap would get)."""
        now = self.clock.now()
        pools = self.market.get(orient(tin, tout), {}).values()
        return [amm.at(p, now) for p in pools if amm.is_open(p, now)]

    async def _check_snipers(self, tokens: Iterable[str]) -> None:
        """Judge the waiting snipers that want any of `tokens` (symbols or mints) against the market now, and
        trigger those that qualify, in submission order (one batch). One a launch fails keeps waiting."""
        at = self.clock.now()
        snipers: dict[uuid.UUID, Order] = {}
        for name in tokens:
            known = token(name)
            names = {name} if known is None else {name, market_symbol(known.symbol), known.mint}
            snipers.update((o.id, o) for o in self.index.snipers_wanting(*names))
        hits: list[tuple[Order, Triggered]] = []
        triggered: set[uuid.UUID] = set()
        for order in submission_order(snipers.values()):
            if order.expires_at is not None and order.expires_at <= at:
                continue  # it expires instead
            tin, tout = market_symbol(order.token_in), market_symbol(order.token_out)
            launch = None if self.registry is None else self.registry.launch_of(order.token_out)
            verdict = evaluate(order, list(self.market.get(orient(tin, tout), {}).values()), launch, at)
            if verdict.hit is not None:
                hits.append((order, verdict.hit))
                if len(hits) == 1:  # the first fires at once, before the others are even judged
                    triggered.update(o.id for o in await self.trigger(hits))
            elif verdict.reason is not None:
                log.info(
                    "sniper held: the launch does not meet its conditions",
                    order_id=str(order.id),
                    token=tout,
                    reason=verdict.reason,
                )
        if len(hits) > 1:
            triggered.update(o.id for o in await self.trigger(hits[1:]))
        for order, hit in hits:
            self.index.remove(order.id)
            log.info(
                "sniper triggered" if order.id in triggered else "sniper moved on meanwhile",
                order_id=str(order.id),
                token=market_symbol(order.token_out),
                venue=hit.venue,
                pool=hit.pool,
                liquidity=None if hit.liquidity is None else dec_str(hit.liquidity),
                effective_price=dec_str(hit.effective_price),
            )

    async def _check(self, directions: Iterable[Direction]) -> None:
        """Trigger every order of these directions that the market meets now (one batch)."""
        hits: list[tuple[Order, Triggered]] = []
        at = self.clock.now()
        for tin, tout in directions:
            for order, quote in self.index.crossed(self._pools_for(tin, tout), tin, tout):
                if order.expires_at is not None and order.expires_at <= at:
                    continue  # its time ran out before the market got there: it expires instead
                price = effective_price(quote.amount_out, order.amount_in)
                hits.append((order, Triggered(quote.venue, price, at, order.limit_price)))
        if not hits:
            return
        triggered = await self.trigger(hits)
        for order, _ in hits:  # triggered, or moved on meanwhile (a notice brings it back if it rests again)
            self.index.remove(order.id)
        log.info("limit orders triggered", count=len(triggered), crossed=len(hits))

    async def _expire_due(self) -> None:
        due = self.index.due(self.clock.now())
        if not due:
            return
        payloads = [
            Expired(
                reason=EXPIRED_AT_MAX_AGE,
                limit_price=o.limit_price,
                best_effective_price=best_effective_price(o, self._pools_for(*direction(o))),
                expires_at=o.expires_at,
            )
            for o in due
        ]
        try:
            expired = await self.expire(list(zip(due, payloads, strict=True)))
        except Exception:
            self.index.expire_later(due)
            raise
        for order in due:
            self.index.remove(order.id)
        log.info("resting orders expired", count=len(expired), due=len(due))

    async def _load_market(self) -> None:
        self.market.clear()
        self._openings.clear()
        for pool in await self.pools.all():
            self.market[(pool.base, pool.quote)][pool.venue] = pool
            self._schedule_opening(pool)

    async def _rebuild(self) -> None:
        self.index = RestingIndex()
        self._arrived_snipers.clear()
        after: uuid.UUID | None = None
        while page := await self.repo.list_resting(after=after, limit=REBUILD_PAGE):
            self.index.add_many(page)
            after = page[-1].id
            await self._keep_lease()

    async def _reconcile(self, since: datetime) -> None:
        """Index resting orders PostgreSQL has that this watcher was never told about."""
        missing = [oid for oid, arm in await self.repo.resting_since(since) if not self._knows(oid, arm)]
        if missing:
            found = self._index(await self.repo.get_many(missing))
            log.warning("resting orders found by reconciliation (a notice was lost)", count=len(missing))
            await self._check(found)
            await self._check_snipers(self._take_arrived())

    def _knows(self, order_id: uuid.UUID, arm: int | None) -> bool:
        order = self.index.get(order_id)
        return order is not None and order.arm == arm

    @property
    def status_key(self) -> str:
        return f"{self.prefix}:watcher:status"

    async def _report(self) -> None:
        """The active watcher's state, for operators and benchmarks (expires with the lease)."""
        await self.redis.hset(
            self.status_key,
            mapping={"holder": self.lease.token, "resting": len(self.index), "at": self.clock.now().isoformat()},
        )
        await self.redis.pexpire(self.status_key, self.lease.ttl_ms)
        if self.on_report is not None:
            self.on_report(self.index.by_type())
