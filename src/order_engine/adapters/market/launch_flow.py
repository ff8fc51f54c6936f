"""Random launches for demos (ORDER_ENGINE_MARKET_LAUNCH_EVERY_S): what the market loop's leader launches now
and then, drawn from a seeded rng so that the same seed and launch number give the same launch."""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta
from decimal import Decimal

from order_engine.domain.launches import LaunchRequest

PREFIXES = ("PEPE", "DOGE", "MOON", "WIF", "CAT", "FROG", "BOME")


def random_launch(rng: random.Random, now: datetime) -> LaunchRequest:
    """A launch against SOL: a meme-ish symbol (a prefix and three letters or digits), 20-200 SOL of liquidity at
    1e-7 to 1e-5 SOL a token, on either venue; each authority revoked four times in five, and one launch in
    four opening 2 to 10 s later."""
    symbol = rng.choice(PREFIXES) + "".join(rng.choices(string.ascii_uppercase + string.digits, k=3))
    price = Decimal(rng.randint(1, 100)).scaleb(-7)
    liquidity = Decimal(rng.randint(20, 200))
    opens = now + timedelta(seconds=rng.randint(2, 10)) if rng.random() < 0.25 else None
    return LaunchRequest(
        symbol=symbol,
        decimals=6,
        venue=rng.choice(("meteora", "raydium")),
        quote_token="SOL",
        initial_price=price,
        liquidity=liquidity,
        mint_authority_revoked=rng.random() < 0.8,
        freeze_authority_revoked=rng.random() < 0.8,
        opens_at=opens,
    )
