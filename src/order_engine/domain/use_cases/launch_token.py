"""Use case: launch a token (the simulator's launches) — validate, register it for every process, seed its pool.

The registry is written first: it refuses a symbol already taken (SymbolTaken, nothing else written), and a
pool is only ever created for a registered token. The pool is created through the pool store's seed, so it
lands on the market's events stream, where the watcher sees it and fires the snipers waiting for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from order_engine.domain.amm import Pool
from order_engine.domain.errors import SymbolTaken
from order_engine.domain.launches import Launch, LaunchRequest, launch_pool, validate_launch
from order_engine.domain.ports import Clock, LaunchRegistry, PoolSeeder
from order_engine.domain.tokens import token


@attrs.define
class LaunchToken:
    registry: LaunchRegistry
    pools: PoolSeeder
    clock: Clock
    mint_for: Callable[[str], str]  # symbol → its mint (deterministic)
    fee_bps: Mapping[str, int]  # each venue's normal fee
    launch_fee_bps: Mapping[str, int] = attrs.field(factory=dict)  # venues with a decaying launch fee
    fee_decay_ms: int = 0

    async def __call__(self, request: LaunchRequest) -> tuple[Launch, Pool]:
        """Raises InvalidOrder naming a bad field, SymbolTaken for a registered symbol (both: nothing written)."""
        now = self.clock.now()
        request = validate_launch(request, now=now)
        if token(request.symbol) is not None:
            raise SymbolTaken(request.symbol)
        pool = launch_pool(
            request,
            now=now,
            fee_bps=self.fee_bps[request.venue],
            launch_fee_bps=self.launch_fee_bps.get(request.venue, 0),
            fee_decay_ms=self.fee_decay_ms,
        )
        launch = Launch(
            symbol=request.symbol,
            mint=self.mint_for(request.symbol),
            decimals=request.decimals,
            venue=request.venue,
            quote_token=request.quote_token,
            mint_authority_revoked=request.mint_authority_revoked,
            freeze_authority_revoked=request.freeze_authority_revoked,
            opens_at=request.opens_at,
            launched_at=now,
        )
        if not await self.registry.add(launch):
            raise SymbolTaken(request.symbol)
        await self.pools.seed([pool])
        return launch, pool
