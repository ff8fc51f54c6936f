"""HTTP (simulator): launch a token — `POST /api/sim/launches`. Mounted only with ORDER_ENGINE_SIM_API on, and
behind the operator credential when ORDER_ENGINE_ADMIN_TOKEN is set (as /saq)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import structlog
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.types import Guard

from order_engine.adapters.wire import decimal_from_json, timestamp_from_json
from order_engine.app.http.orders import require_json
from order_engine.app.http.schemas import LaunchIn, LaunchOut, problem_responses
from order_engine.app.http.security import operator_guard
from order_engine.app.http.strict_body import StrictJSON
from order_engine.app.services import Services
from order_engine.domain.launches import LaunchRequest
from order_engine.domain.money import dec_str

log = structlog.get_logger("order_engine.api")

MAX_LAUNCH_BODY = 4 * 1024


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


def launches_controller(admin_token: str | None) -> type[Controller]:
    guards: list[Guard] = [require_json, *([operator_guard(admin_token)] if admin_token else [])]

    class LaunchesController(Controller):
        path = "/api/sim/launches"
        tags = ["simulator"]

        @post(
            "/",
            status_code=201,
            request_max_body_size=MAX_LAUNCH_BODY,
            guards=guards,
            dto=StrictJSON[LaunchIn],
            return_dto=None,
            responses=problem_responses(400, 401, 409, 413, 415, 429, 503),
        )
        async def launch(self, data: JSONBody[LaunchIn], services: NamedDependency[Services]) -> LaunchOut:
            """Launch a token: it joins the shared registry (tradable by every order type) and its first pool is
            created on `venue` (announced on the market's events: waiting snipers for it are judged). 409 for a
            symbol already registered; a pool with `opensAt` may not be traded before it."""
            assert services.launch is not None
            launch, pool = await services.launch(launch_request(data))
            log.info(
                "token launched",
                symbol=launch.symbol,
                mint=launch.mint,
                venue=launch.venue,
                pool=f"{pool.base}/{pool.quote}",
                liquidity=dec_str(Decimal(pool.quote_reserve).scaleb(-pool.quote_decimals)),
                opens_at=None if launch.opens_at is None else launch.opens_at.isoformat(),
            )
            opens = launch.opens_at
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

    return LaunchesController
