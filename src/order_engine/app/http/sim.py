"""HTTP: the simulation's controls (`/api/sim/…`), for trying the engine out and for tests.

Mounted only with `ORDER_ENGINE_SIM_API` (on in `order-engine dev` and the test stacks, off for `order-engine api`:
the routes then do not exist, 404), and behind the operator credential whenever `ORDER_ENGINE_ADMIN_TOKEN` is set.
Every control is a method of `SimController`; `sim_routes` mounts them all with the one guard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import structlog
from litestar import Controller, Router, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import JSONBody

from order_engine.adapters.market.pools import PoolContention, PoolNotFound, RedisPoolStore
from order_engine.adapters.market.steer import check_factor, move_pool, price
from order_engine.adapters.market.table import VENUE_FEES_BPS
from order_engine.adapters.mock_dex.venue import pool_pair
from order_engine.adapters.wire import decimal_from_json, timestamp_from_json
from order_engine.app.http.orders import MAX_ORDER_BODY, require_json
from order_engine.app.http.schemas import LaunchIn, LaunchOut, MarketMoved, MarketMoveIn, problem_responses
from order_engine.app.http.security import operator_guard
from order_engine.app.http.strict_body import StrictJSON
from order_engine.app.services import Services
from order_engine.app.settings import Settings
from order_engine.domain.amm import BPS, PRICE_CONTEXT, Pool
from order_engine.domain.errors import InvalidOrder, UnsupportedPair
from order_engine.domain.launches import LaunchRequest
from order_engine.domain.money import dec_str
from order_engine.domain.tokens import token

log = structlog.get_logger("order_engine.api")

MAX_PRICE_CHARS = 40  # toPrice as written: digits enough for any price the pools can show
MAX_LAUNCH_BODY = 4 * 1024


def parse_pair(text: str) -> tuple[str, str, str, bool]:
    """(the pair as named, base, quote, whether it is named the other way round from its pools)."""
    names = text.split("/")
    if len(names) != 2 or not all(names):
        raise InvalidOrder("pair", f'must be two token symbols joined by "/", e.g. "SOL/USDC", got {text!r}')
    tokens = [token(n) for n in names]
    for name, tok in zip(names, tokens, strict=True):
        if tok is None:
            raise InvalidOrder("pair", f"unknown token {name!r} in {text!r}")
    first, second = (t.symbol for t in tokens if t is not None)
    try:
        named_base, _, base, quote = pool_pair(first, second)
    except UnsupportedPair:
        raise InvalidOrder("pair", f"no pool trades {first}/{second}") from None
    return f"{first}/{second}", base, quote, named_base != base


def parse_venues(venue: str | None) -> list[str]:
    if venue is None:
        return sorted(VENUE_FEES_BPS)
    if venue.lower() not in VENUE_FEES_BPS:
        raise InvalidOrder("venue", f"unknown venue {venue!r}: one of {', '.join(sorted(VENUE_FEES_BPS))}, or null")
    return [venue.lower()]


def invert(value: Decimal) -> Decimal:
    return PRICE_CONTEXT.divide(Decimal(1), value)


def target_of(data: MarketMoveIn, inverted: bool) -> tuple[str, Callable[[Pool], Decimal]]:
    """The field the move comes from, and the pool price (quote per base) it aims at for a pool as read."""
    raw = bytes(data.toPrice) if isinstance(data.toPrice, msgspec.Raw) and bytes(data.toPrice) != b"null" else None
    if (raw is None) == (data.byBps is None):
        raise InvalidOrder("toPrice", "give exactly one of toPrice (a price to move to) and byBps (a move in bps)")
    if raw is not None:
        if len(raw) > MAX_PRICE_CHARS:
            raise InvalidOrder("toPrice", f"at most {MAX_PRICE_CHARS} characters")
        to_price = decimal_from_json(raw, "toPrice")
        if to_price <= 0:
            raise InvalidOrder("toPrice", "must be above zero")
        goal = invert(to_price) if inverted else to_price
        return "toPrice", lambda pool: goal
    factor = 1 + Decimal(data.byBps or 0) / BPS  # exact: an int over 10 000; of the pair as named (the pool's inverse)
    move = PRICE_CONTEXT.divide if inverted else PRICE_CONTEXT.multiply
    return "byBps", lambda pool: move(price(pool), factor)


def launch_request(data: LaunchIn) -> LaunchRequest:
    return LaunchRequest(
        symbol=data.symbol,
        decimals=data.decimals,
        venue=data.venue,
        quote_token=data.quoteToken,
        initial_price=decimal_from_json(data.initialPrice, "initialPrice"),
        liquidity=decimal_from_json(data.liquidity, "liquidity"),
        mint_authority_revoked=data.mintAuthorityRevoked,
        freeze_authority_revoked=data.freezeAuthorityRevoked,
        opens_at=None if data.opensAt is None else timestamp_from_json(data.opensAt, "opensAt"),
    )


class SimController(Controller):
    path = "/api/sim"
    tags = ["simulation"]

    @post(
        "/market/move",
        status_code=200,
        request_max_body_size=MAX_ORDER_BODY,
        before_request=require_json,
        dto=StrictJSON[MarketMoveIn],
        return_dto=None,
        responses=problem_responses(400, 401, 413, 415, 429, 503),
    )
    async def move_market(self, data: JSONBody[MarketMoveIn], services: NamedDependency[Services]) -> MarketMoved:
        """Trade the pools until `pair`'s mid price is `toPrice` (or has moved by `byBps`) on `venue`, or on every
        venue when `venue` is null: each venue's price before and after, in the pair as named.

        Each move is a trade through the pool's compare-and-set, exact to one base unit and on the events stream.
        A bad field is a 400 naming it, and then no pool has changed.
        """
        named, base, quote, inverted = parse_pair(data.pair)
        venues = parse_venues(data.venue)
        field, target = target_of(data, inverted)
        store = RedisPoolStore(services.redis, prefix=services.settings.key_prefix)
        pools = [await store.get(venue, base, quote) for venue in venues]
        if any(pool is None for pool in pools):  # never seeded yet (no process has reached Redis since it started)
            raise HTTPException(status_code=503, detail="market unavailable: no pools yet, try again shortly")
        for pool in pools:  # every venue's bound first, so that a bad move changes no pool at all
            assert pool is not None
            check_factor(target(pool), price(pool), field)
        moves = []
        for venue in venues:
            try:
                moves.append(await move_pool(store, venue, base, quote, target, field=field))
            except (PoolNotFound, PoolContention) as exc:
                raise HTTPException(status_code=503, detail=f"market unavailable: {exc}") from None
        shown = [
            {
                "venue": m.venue,
                "before": dec_str(invert(m.before) if inverted else m.before),
                "price": dec_str(invert(m.after) if inverted else m.after),
            }
            for m in moves
        ]
        log.info("market moved", pair=named, by=field, moves=[(m["venue"], m["before"], m["price"]) for m in shown])
        return msgspec.convert(
            {"pair": named, "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "prices": shown}, MarketMoved
        )

    @post(
        "/launches",
        status_code=201,
        request_max_body_size=MAX_LAUNCH_BODY,
        before_request=require_json,
        dto=StrictJSON[LaunchIn],
        return_dto=None,
        responses=problem_responses(400, 401, 409, 413, 415, 429, 503),
    )
    async def launch(self, data: JSONBody[LaunchIn], services: NamedDependency[Services]) -> LaunchOut:
        """Launch a token: it joins the shared registry (tradable by every order type) and its first pool is
        created on `venue` (announced on the market's events: the snipers waiting for it are judged). 409 for a
        symbol already registered; a pool with `opensAt` may not be traded before it. A bad field is a 400
        naming it; neither writes anything."""
        assert services.launch is not None
        launch, pool = await services.launch(launch_request(data))
        opens = launch.opens_at
        log.info(
            "token launched",
            symbol=launch.symbol,
            mint=launch.mint,
            venue=launch.venue,
            pool=f"{pool.base}/{pool.quote}",
            liquidity=dec_str(Decimal(pool.quote_reserve).scaleb(-pool.quote_decimals)),
            opens_at=None if opens is None else opens.isoformat(),
        )
        return msgspec.convert(
            {
                "symbol": launch.symbol,
                "mint": launch.mint,
                "venue": launch.venue,
                "pool": f"{pool.base}/{pool.quote}",
                "opensAt": None if opens is None else opens.isoformat().replace("+00:00", "Z"),
            },
            LaunchOut,
        )


def sim_routes(settings: Settings) -> list[Router]:
    """The /api/sim routes when `ORDER_ENGINE_SIM_API` is on (else none: 404), behind the operator credential
    whenever `ORDER_ENGINE_ADMIN_TOKEN` is set."""
    if not settings.sim_api:
        return []
    guards = [operator_guard(settings.admin_token)] if settings.admin_token else []
    return [Router(path="/", route_handlers=[SimController], guards=guards)]
