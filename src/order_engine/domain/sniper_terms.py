"""A sniper's terms: its trigger (a pool is created) and the safety checks its token must pass, and their
validation (InvalidOrder naming the field: `trigger.minLiquidity`, `safety.requireMintAuthorityRevoked`, …)."""

from __future__ import annotations

from decimal import Decimal

import attrs

from order_engine.domain.errors import InvalidOrder
from order_engine.domain.money import dec_str
from order_engine.domain.tokens import Token

POOL_CREATED = "pool_created"
TRIGGER_EVENTS = (POOL_CREATED,)
TRIGGER_VENUES = ("any", "meteora", "raydium")
MAX_MIN_LIQUIDITY = Decimal("1e15")


@attrs.frozen
class SniperTrigger:
    """When a sniper fires: a pool for its pair is created (and open) on `venue` with at least `min_liquidity`
    of tokenIn on the tokenIn side."""

    event: str = POOL_CREATED
    venue: str = "any"
    min_liquidity: Decimal = Decimal(0)


@attrs.frozen
class Safety:
    """Checks the token must pass before a sniper buys it (both on by default)."""

    require_mint_authority_revoked: bool = True
    require_freeze_authority_revoked: bool = True


def check_terms(trigger: SniperTrigger | None, safety: Safety | None, token_in: Token) -> tuple[SniperTrigger, Safety]:
    """A sniper's trigger and safety with defaults filled, or InvalidOrder naming the field (`trigger.venue`…)."""
    if trigger is None:
        raise InvalidOrder("trigger", 'is required for sniper orders, e.g. {"event": "pool_created"}')
    if trigger.event not in TRIGGER_EVENTS:
        raise InvalidOrder("trigger.event", f"must be one of {', '.join(TRIGGER_EVENTS)}")
    venue = trigger.venue.lower()
    if venue not in TRIGGER_VENUES:
        raise InvalidOrder("trigger.venue", f"must be one of {', '.join(TRIGGER_VENUES)}")
    liquidity = trigger.min_liquidity
    if not liquidity.is_finite() or liquidity < 0:
        raise InvalidOrder("trigger.minLiquidity", "must be 0 or more")
    if liquidity > MAX_MIN_LIQUIDITY:
        raise InvalidOrder("trigger.minLiquidity", f"must be at most {dec_str(MAX_MIN_LIQUIDITY)}")
    if liquidity != token_in.round_down(liquidity):
        raise InvalidOrder("trigger.minLiquidity", f"{token_in.symbol} has {token_in.decimals} decimal places at most")
    safety = safety if safety is not None else Safety()
    for name, value in (
        ("safety.requireMintAuthorityRevoked", safety.require_mint_authority_revoked),
        ("safety.requireFreezeAuthorityRevoked", safety.require_freeze_authority_revoked),
    ):
        if not isinstance(value, bool):
            raise InvalidOrder(name, "must be true or false")
    return attrs.evolve(trigger, venue=venue), safety
