"""Constant-product pools (x·y = k), the venues of the living market: exact math, no I/O.

Reserves are ints in base units (token amount × 10^decimals). A SOL/USDC pool's k is about 1e29, past what a
float holds exactly, so everything here is int or Decimal and nothing is ever a float. The fee is taken from
the input and stays in the pool (Uniswap v2, Raydium CPMM), so k grows with every trade.

A launched pool may exist before it may be traded (`opens_at_ms`, like Raydium CPMM's open_time or Meteora's
activation point) and may start with a launch fee that decays to its normal fee (Meteora's anti-sniper fee
schedule): `at(pool, now)` is the pool as it trades at `now`, with that moment's fee (see `fee_bps_at`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, Inexact

import attrs

BPS = 10_000
# Prices and ratios: 34 significant digits (IEEE decimal128), each result rounded once, half to even.
PRICE_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
# Moving a decimal point and multiplying amounts: unbounded precision, and a trap if anything would round.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])


@attrs.frozen
class Pool:
    """One venue's pool for a pair, oriented base/quote (SOL/USDC: price = quote per base)."""

    venue: str
    base: str
    quote: str
    base_reserve: int  # base units
    quote_reserve: int
    base_decimals: int
    quote_decimals: int
    fee_bps: int  # 30 = 0.3 %: the normal fee (at(pool, now) gives the fee of a moment)
    version: int  # for compare-and-set; every change bumps it
    opens_at_ms: int = 0  # Unix ms before which it may not be traded (0: open from the start)
    launch_fee_bps: int = 0  # the fee at the opening, decaying to fee_bps over fee_decay_ms (0: no schedule)
    fee_decay_ms: int = 0

    def __attrs_post_init__(self) -> None:
        numbers = (
            self.base_reserve,
            self.quote_reserve,
            self.base_decimals,
            self.quote_decimals,
            self.fee_bps,
            self.opens_at_ms,
            self.launch_fee_bps,
            self.fee_decay_ms,
        )
        if any(type(n) is not int for n in (*numbers, self.version)):
            raise TypeError("pool reserves, decimals, fee and version are ints (base units), never floats")
        if self.base == self.quote:
            raise ValueError(f"a pool trades two tokens, not {self.base} against itself")
        if self.base_reserve <= 0 or self.quote_reserve <= 0:
            raise ValueError("both reserves must be above zero, or x·y = k has no price")
        if min(self.base_decimals, self.quote_decimals, self.version) < 0 or not 0 <= self.fee_bps < BPS:
            raise ValueError("decimals and version are never negative, and the fee is below 100 %")
        if min(self.opens_at_ms, self.fee_decay_ms) < 0 or not 0 <= self.launch_fee_bps < BPS:
            raise ValueError("opening and decay times are never negative, and the launch fee is below 100 %")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def unix_ms(moment: datetime) -> int:
    """`moment` (tz-aware) in whole Unix milliseconds, without a float."""
    return (moment - _EPOCH) // _MS


def is_open(pool: Pool, now: datetime) -> bool:
    """Whether the pool may be traded at `now` (its opening has come)."""
    return unix_ms(now) >= pool.opens_at_ms


def fee_bps_at(pool: Pool, now: datetime) -> int:
    """The fee a trade at `now` pays, in bps: a launch fee falls linearly from `launch_fee_bps` at the opening
    to `fee_bps` at the opening + `fee_decay_ms`, rounded up to a whole bps; then (and without a schedule)
    it is `fee_bps`. With 5000 → 20 bps over 60 s: 5000 at 0 s, 2510 at 30 s, 20 from 60 s on."""
    if pool.launch_fee_bps <= pool.fee_bps or pool.fee_decay_ms <= 0:
        return pool.fee_bps
    elapsed = max(0, unix_ms(now) - pool.opens_at_ms)
    if elapsed >= pool.fee_decay_ms:
        return pool.fee_bps
    extra = pool.launch_fee_bps - pool.fee_bps
    return pool.fee_bps + -(-extra * (pool.fee_decay_ms - elapsed) // pool.fee_decay_ms)  # ceiling division


def at(pool: Pool, now: datetime) -> Pool:
    """The pool as it trades at `now`: its fee of that moment in `fee_bps` (reserves and version unchanged)."""
    fee = fee_bps_at(pool, now)
    return pool if fee == pool.fee_bps else attrs.evolve(pool, fee_bps=fee)


@attrs.frozen
class PoolQuote:
    """What a pool gives for `amount_in` of `token_in` right now (amounts in whole tokens)."""

    venue: str
    token_in: str
    token_out: str
    amount_in: Decimal
    amount_out: Decimal  # after the fee, rounded down to the output token's base unit
    amount_in_units: int
    amount_out_units: int
    price: Decimal  # mid price, token_out per token_in, before the fee
    effective_price: Decimal  # amount_out / amount_in
    fee_rate: Decimal  # 0.003 for 30 bps
    price_impact_pct: Decimal  # 0.35 means 0.35 %; see quote()


def _sides(pool: Pool, token_in: str) -> tuple[int, int, int, int, str]:
    """(reserve in, reserve out, decimals in, decimals out, token out) for a trade selling `token_in`."""
    if token_in == pool.base:
        return pool.base_reserve, pool.quote_reserve, pool.base_decimals, pool.quote_decimals, pool.quote
    if token_in == pool.quote:
        return pool.quote_reserve, pool.base_reserve, pool.quote_decimals, pool.base_decimals, pool.base
    raise ValueError(f"{token_in} is not in the {pool.base}/{pool.quote} pool on {pool.venue}")


def _out(x: int, y: int, dx: int, gamma: int) -> int:
    """Output for `dx` in, `gamma` = 10 000 − fee bps of it counted, rounded down."""
    return y * dx * gamma // (x * BPS + dx * gamma)


def _to_units(amount: Decimal, decimals: int) -> int:
    """`amount` in base units; refuses what the token cannot hold (1.0000000001 SOL), never rounds it."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"amount must be a finite Decimal, got {amount!r}")
    units = amount.scaleb(decimals, _EXACT)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} has more than the token's {decimals} decimals")
    return int(units)


def _from_units(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals, _EXACT)


def mid_price(pool: Pool, token_in: str, token_out: str) -> Decimal:
    """token_out per one token_in in whole tokens, before the fee: the price of an infinitely small trade.

    One division in PRICE_CONTEXT, so correctly rounded to 34 significant digits, half to even.
    """
    x, y, dec_in, dec_out, other = _sides(pool, token_in)
    if token_out != other:
        raise ValueError(f"{token_out} is not the other side of {token_in} in {pool.base}/{pool.quote}")
    return PRICE_CONTEXT.divide(Decimal(y * 10**dec_in), Decimal(x * 10**dec_out))


def amount_out(pool: Pool, token_in: str, amount_in_units: int) -> int:
    """Base units of the other token for `amount_in_units` in, the fee taken from the input:

    dy = floor(y·dx·(10 000 − fee) / (x·10 000 + dx·(10 000 − fee))).
    Rounded down, so the pool never pays out more than the curve allows and k never falls; dy < y always.
    """
    x, y, *_ = _sides(pool, token_in)
    if type(amount_in_units) is not int:
        raise TypeError(f"amount in is an int of base units, got {amount_in_units!r}")
    if amount_in_units <= 0:
        raise ValueError(f"amount in must be above zero, got {amount_in_units}")
    return _out(x, y, amount_in_units, BPS - pool.fee_bps)


def quote(pool: Pool, token_in: str, amount_in: Decimal) -> PoolQuote:
    """The trade `amount_in` of `token_in` would get, without changing the pool.

    price_impact_pct = 100 · dx / (x + dx), x the input reserve and dx the amount in (base units): how far the
    zero-fee effective price, y/(x + dx), is below the mid price y/x, in percent. It is the curve's cost alone:
    neither the fee nor the rounding of the output to base units counts, so one unit in a deep pool is ~0.
    """
    x, _, dec_in, dec_out, token_out = _sides(pool, token_in)
    units_in = _to_units(amount_in, dec_in)
    units_out = amount_out(pool, token_in, units_in)
    out = _from_units(units_out, dec_out)
    return PoolQuote(
        venue=pool.venue,
        token_in=token_in,
        token_out=token_out,
        amount_in=amount_in,
        amount_out=out,
        amount_in_units=units_in,
        amount_out_units=units_out,
        price=mid_price(pool, token_in, token_out),
        effective_price=PRICE_CONTEXT.divide(out, amount_in),
        fee_rate=PRICE_CONTEXT.divide(Decimal(pool.fee_bps), Decimal(BPS)),
        price_impact_pct=PRICE_CONTEXT.divide(Decimal(100 * units_in), Decimal(x + units_in)),
    )


def swapped(pool: Pool, token_in: str, amount_in_units: int) -> tuple[Pool, int]:
    """The pool after the trade and the amount out: the whole input (fee included) joins its reserve."""
    out = amount_out(pool, token_in, amount_in_units)
    if token_in == pool.base:
        reserves = {"base_reserve": pool.base_reserve + amount_in_units, "quote_reserve": pool.quote_reserve - out}
    else:
        reserves = {"quote_reserve": pool.quote_reserve + amount_in_units, "base_reserve": pool.base_reserve - out}
    return attrs.evolve(pool, **reserves, version=pool.version + 1), out


def _isqrt(n: int) -> int:
    """floor(√n), Newton's method on ints (the domain imports no math)."""
    if n < 2:
        return n
    r = 1 << ((n.bit_length() + 1) // 2)  # ≥ √n, and from above Newton decreases to the floor
    while (s := (r + n // r) // 2) < r:
        r = s
    return r


def trade_to_price(pool: Pool, target_price: Decimal) -> tuple[str, int] | None:
    """(token to sell into the pool, base units) that moves its mid price (quote per base) to `target_price`.

    Selling base lowers the price, selling quote raises it. The answer is the largest trade that does not
    carry the price past the target, so one more unit would: the target lies between the price after n and
    after n + 1 units, reached from its own side. None when not even one unit fits (the pool is at the target).

    Selling n of a reserve x against y with γ = 1 − fee leaves y' = y·x / (x + γn) (dy unrounded), and
    y'/(x + n) = t (t the target, out per in) is γn² + x(1 + γ)n + x² − x·y/t = 0, whose root is
    n* = (√(x²(1 − γ)² + 4γ·x·y/t) − x(1 + γ)) / 2γ. floor(n*) never passes the target, since the real
    pool rounds dy down and keeps more y; a doubling then halving search adds the units that rounding left.
    """
    if not isinstance(target_price, Decimal) or not target_price.is_finite() or target_price <= 0:
        raise ValueError(f"target price must be a Decimal above zero, got {target_price!r}")
    num, den = target_price.as_integer_ratio()
    num, den = num * 10**pool.quote_decimals, den * 10**pool.base_decimals  # quote units per base unit
    x, y = pool.base_reserve, pool.quote_reserve
    if y * den == num * x:
        return None
    token = pool.base if y * den > num * x else pool.quote
    if token == pool.quote:  # the same problem seen from the other side: base per quote must fall to den/num
        x, y, num, den = y, x, den, num
    gamma = BPS - pool.fee_bps

    def short_of_target(n: int) -> bool:  # (y − dy) / (x + n) ≥ num / den
        return (y - _out(x, y, n, gamma)) * den >= num * (x + n)

    # The root above with γ = gamma / BPS, over a common denominator so that only ints are involved.
    disc_num = (x * (BPS - gamma)) ** 2 * num + 4 * gamma * BPS * x * y * den
    n = max(0, (_isqrt(disc_num * num) // num - x * (BPS + gamma)) // (2 * gamma))
    step = 1
    while short_of_target(n + step):
        n, step = n + step, step * 2
    while step > 1:  # invariant: short_of_target(n) and not short_of_target(n + step)
        step //= 2
        if short_of_target(n + step):
            n += step
    return (token, n) if n else None


def scaled(pool: Pool, factor: Decimal) -> Pool:
    """Both reserves × `factor` (deep pools for benchmarks), rounded down to base units.

    A whole factor keeps the price exactly; any other moves it by at most one base unit of either reserve.
    """
    if not isinstance(factor, Decimal) or not factor.is_finite() or factor <= 0:
        raise ValueError(f"factor must be a Decimal above zero, got {factor!r}")

    def times(reserve: int) -> int:
        return int(_EXACT.multiply(Decimal(reserve), factor).to_integral_value(rounding=ROUND_FLOOR))

    return attrs.evolve(
        pool, base_reserve=times(pool.base_reserve), quote_reserve=times(pool.quote_reserve), version=pool.version + 1
    )


def new_pool(
    venue: str,
    base: str,
    quote: str,
    *,
    base_amount: Decimal,
    price: Decimal,
    base_decimals: int,
    quote_decimals: int,
    fee_bps: int,
) -> Pool:
    """A pool holding `base_amount` of base and base_amount × `price` of quote, to the nearest quote unit."""
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise ValueError(f"price must be a Decimal above zero, got {price!r}")
    quote_value = _EXACT.multiply(base_amount, price).scaleb(quote_decimals, _EXACT)
    return Pool(
        venue=venue,
        base=base,
        quote=quote,
        base_reserve=_to_units(base_amount, base_decimals),
        quote_reserve=int(quote_value.to_integral_value(rounding=ROUND_HALF_EVEN)),
        base_decimals=base_decimals,
        quote_decimals=quote_decimals,
        fee_bps=fee_bps,
        version=0,
    )
