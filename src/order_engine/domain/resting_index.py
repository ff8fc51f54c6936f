"""The watcher's memory: resting limit and sniper orders, indexed so that a price change costs O(log n + k).

Snipers are kept apart, per token they want (tokenOut as the pools name it, or the mint they gave), in
submission order: a pool created for that token re-checks exactly those, and they fire in that order.

Orders are kept per direction (tokenIn → tokenOut, in the pools' symbols) sorted by limit price, and in one
heap by expiry. A pool's output for any amount is at most amountIn × mid × (1 − fee) (price impact only lowers
it), so no order whose limit is above the best venue's mid × (1 − fee) can be met: the candidates of a price
change are the prefix of the sorted limits up to that bound (a bisection), and only they get an exact quote
for their own size. Pure: no I/O, so the watcher's logic is tested on plain values.
"""

from __future__ import annotations

import bisect
import heapq
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from order_engine.domain import amm
from order_engine.domain.amm import Pool, PoolQuote
from order_engine.domain.limits import effective_price
from order_engine.domain.order import Order
from order_engine.domain.requests import floor_of
from order_engine.domain.status import OrderStatus, OrderType
from order_engine.domain.tokens import is_mint, market_symbol

Direction = tuple[str, str]  # (token in, token out), market symbols
_PAST_LAST_ID = 1 << 128  # above every UUID's int
# An entry of a direction's sorted list: (limit, id as an int, id). The int breaks ties between equal limits and
# keeps comparisons in C (UUID's own ordering is Python code: ten times slower on 100,000 equal limits).
Entry = tuple[Decimal, int, uuid.UUID]


def direction(order: Order) -> Direction:
    return market_symbol(order.token_in), market_symbol(order.token_out)


def wanted_key(order: Order) -> str:
    """What a sniper's index entry is filed under: the market symbol of its tokenOut (a mint stays a mint)."""
    return order.token_out if is_mint(order.token_out) else market_symbol(order.token_out)


def bound(pools: Iterable[Pool], token_in: str, token_out: str) -> Decimal | None:
    """The best effective price any size could get selling `token_in`: max over pools of mid × (1 − fee)."""
    prices = [
        amm.mid_price(p, token_in, token_out) * (amm.BPS - p.fee_bps) / amm.BPS
        for p in pools
        if {p.base, p.quote} == {token_in, token_out}
    ]
    return max(prices, default=None)


def best_quote(order: Order, pools: Iterable[Pool]) -> PoolQuote | None:
    """The venue that gives `order` the most right now, for its exact size (ties: lower fee, then name)."""
    tin, tout = direction(order)
    quotes = [amm.quote(p, tin, order.amount_in) for p in pools if {p.base, p.quote} == {tin, tout}]
    return min(quotes, key=lambda q: (-q.amount_out, q.fee_rate, q.venue), default=None)


def meets_limit(order: Order, quote: PoolQuote | None) -> bool:
    return quote is not None and quote.amount_out >= floor_of(order)


def best_effective_price(order: Order, pools: Iterable[Pool]) -> Decimal | None:
    quote = best_quote(order, pools)
    return None if quote is None else effective_price(quote.amount_out, order.amount_in)


@attrs.define
class RestingIndex:
    _orders: dict[uuid.UUID, Order] = attrs.field(factory=dict)
    _limits: dict[Direction, list[Entry]] = attrs.field(factory=dict)
    _expiry: list[tuple[datetime, int, uuid.UUID]] = attrs.field(factory=list)  # (expires at, id as int, id)
    # Snipers by the token they want, in submission order: (created at, id as int, id).
    _snipers: dict[str, list[tuple[datetime, int, uuid.UUID]]] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self._orders)

    def by_type(self) -> dict[OrderType, int]:
        """How many limit and sniper orders rest."""
        snipers = sum(len(entries) for entries in self._snipers.values())
        return {OrderType.LIMIT: len(self._orders) - snipers, OrderType.SNIPER: snipers}

    def __contains__(self, order_id: uuid.UUID) -> bool:
        return order_id in self._orders

    def get(self, order_id: uuid.UUID) -> Order | None:
        return self._orders.get(order_id)

    def directions(self) -> set[Direction]:
        return {d for d, limits in self._limits.items() if limits}

    def wanted(self) -> set[str]:
        """The tokens waiting snipers want (symbols, or mints not launched yet)."""
        return {w for w, snipers in self._snipers.items() if snipers}

    def snipers_wanting(self, *names: str) -> list[Order]:
        """Waiting snipers for any of `names` (a token's symbol and mint), in submission order."""
        keys = sorted({k for n in names for k in self._snipers.get(n, [])})
        return [self._orders[oid] for *_, oid in keys]

    def add(self, order: Order) -> bool:
        """Index a resting limit or sniper order (replacing an older copy of it). False if it is not one, or not
        newer."""
        if not self._admit(order):
            return False
        if order.order_type is OrderType.SNIPER:
            entry = (order.created_at, order.id.int, order.id)
            bisect.insort(self._snipers.setdefault(wanted_key(order), []), entry)
        else:
            assert order.limit_price is not None
            bisect.insort(self._limits.setdefault(direction(order), []), (order.limit_price, order.id.int, order.id))
        if order.expires_at is not None:
            heapq.heappush(self._expiry, (order.expires_at, order.id.int, order.id))
        return True

    def add_many(self, orders: Iterable[Order]) -> set[Direction]:
        """`add` for a batch (a rebuild): one sort per direction instead of an insertion per order. Returns the
        directions that gained a limit order (snipers are added one by one: `wanted()` lists their tokens)."""
        grown: dict[Direction, list[Entry]] = {}
        for order in orders:
            if order.order_type is OrderType.SNIPER:
                self.add(order)
            elif self._admit(order):
                assert order.limit_price is not None
                grown.setdefault(direction(order), []).append((order.limit_price, order.id.int, order.id))
                if order.expires_at is not None:
                    self._expiry.append((order.expires_at, order.id.int, order.id))
        for d, entries in grown.items():
            limits = self._limits.setdefault(d, [])
            limits.extend(entries)
            limits.sort()
        heapq.heapify(self._expiry)
        return set(grown)

    def _admit(self, order: Order) -> bool:
        """Record `order` if it is a resting limit or sniper order newer than what is known of it (dropping the
        old copy)."""
        if order.status is not OrderStatus.WAITING or order.order_type not in (OrderType.LIMIT, OrderType.SNIPER):
            return False
        known = self._orders.get(order.id)
        if known is not None:
            if known.seq >= order.seq:
                return False
            self.remove(order.id)
        self._orders[order.id] = order
        return True

    def remove(self, order_id: uuid.UUID) -> Order | None:
        """Forget an order (its expiry entry is dropped lazily, when it comes up)."""
        order = self._orders.pop(order_id, None)
        if order is not None and order.order_type is OrderType.SNIPER:
            snipers = self._snipers[wanted_key(order)]
            del snipers[bisect.bisect_left(snipers, (order.created_at, order.id.int))]
        elif order is not None:
            assert order.limit_price is not None
            limits = self._limits[direction(order)]
            del limits[bisect.bisect_left(limits, (order.limit_price, order.id.int))]
        return order

    def candidates(self, token_in: str, token_out: str, price_bound: Decimal) -> list[Order]:
        """Orders selling `token_in` for `token_out` whose limit is at most `price_bound`, lowest limit first."""
        limits = self._limits.get((token_in, token_out), [])
        end = bisect.bisect_right(limits, (price_bound, _PAST_LAST_ID))
        return [self._orders[oid] for _, _, oid in limits[:end]]

    def crossed(self, pools: Sequence[Pool], token_in: str, token_out: str) -> list[tuple[Order, PoolQuote]]:
        """The orders of one direction that the pools meet now, each with the quote that meets it."""
        top = bound(pools, token_in, token_out)
        if top is None:
            return []
        hits = []
        for order in self.candidates(token_in, token_out, top):
            quote = best_quote(order, pools)
            if quote is not None and meets_limit(order, quote):
                hits.append((order, quote))
        return hits

    def next_expiry(self) -> datetime | None:
        """When the next indexed order expires (stale heap entries are dropped on the way)."""
        while self._expiry:
            at, _, oid = self._expiry[0]
            order = self._orders.get(oid)
            if order is not None and order.expires_at == at:
                return at
            heapq.heappop(self._expiry)
        return None

    def due(self, now: datetime) -> list[Order]:
        """Every indexed order whose expiry is at or before `now`, soonest first. They stay indexed until removed;
        if expiring them fails, `expire_later` puts them back in line."""
        due: list[Order] = []
        seen: set[uuid.UUID] = set()
        while (at := self.next_expiry()) is not None and at <= now:
            *_, oid = heapq.heappop(self._expiry)
            if oid not in seen:
                seen.add(oid)
                due.append(self._orders[oid])
        return due

    def expire_later(self, orders: Iterable[Order]) -> None:
        for order in orders:
            if order.id in self._orders and order.expires_at is not None:
                heapq.heappush(self._expiry, (order.expires_at, order.id.int, order.id))
