"""Tokens the engine trades, with their on-chain decimals.

Native SOL is swapped as wrapped SOL (wSOL); `SOL` and `WSOL` name the same mint. The static `TOKENS` trade
from the start; tokens launched later (`POST /api/sim/launches`) join the process's registry of launched tokens
through `register`, which each process fills from the shared registry (adapters/market/registry.py). Lookups
take a symbol (case-insensitive) or a mint (base58, exact).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import attrs


@attrs.frozen
class Token:
    symbol: str
    mint: str
    decimals: int

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def round_down(self, amount: Decimal) -> Decimal:
        """`amount` in whole base units of this token, never rounded up."""
        return amount.quantize(self.quantum, rounding=ROUND_DOWN)


WSOL_MINT = "So11111111111111111111111111111111111111112"

TOKENS: dict[str, Token] = {
    t.symbol: t
    for t in (
        Token("SOL", WSOL_MINT, 9),
        Token("WSOL", WSOL_MINT, 9),
        Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
        Token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6),
        Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5),
        Token("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6),
        Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6),
    )
}


BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58 = frozenset(BASE58_ALPHABET)

# Launched tokens, by symbol and by mint (this process's copy of the shared registry).
_LAUNCHED: dict[str, Token] = {}
_BY_MINT: dict[str, Token] = {t.mint: t for t in TOKENS.values() if t.symbol != "WSOL"}


def is_symbol(text: str) -> bool:
    """2 to 10 ASCII letters or digits: what a token not launched yet may be called."""
    return 2 <= len(text) <= 10 and text.isascii() and text.isalnum()


def is_mint(text: str) -> bool:
    """A base58 string of 32 to 44 characters, as a Solana mint address is written."""
    return 32 <= len(text) <= 44 and all(c in _BASE58 for c in text)


def register(new: Token) -> None:
    """Make a launched token known to this process (idempotent; a static symbol is never replaced)."""
    if new.symbol in TOKENS:
        return
    _LAUNCHED[new.symbol] = new
    _BY_MINT[new.mint] = new


def launched() -> dict[str, Token]:
    return dict(_LAUNCHED)


def forget_launched() -> None:
    """Tests: back to the static table alone."""
    _LAUNCHED.clear()
    _BY_MINT.clear()
    _BY_MINT.update({t.mint: t for t in TOKENS.values() if t.symbol != "WSOL"})


def token(name: str) -> Token | None:
    """The token a symbol (any case) or a mint names, static or launched; None if neither knows it."""
    upper = name.upper()
    return TOKENS.get(upper) or _LAUNCHED.get(upper) or _BY_MINT.get(name)


def market_symbol(symbol: str) -> str:
    """The symbol the market's pools use for a token: WSOL trades in SOL's pools (one mint); a mint is read as
    its token's symbol; an unknown name is upper-cased (a symbol) or kept as written (a mint)."""
    known = token(symbol)
    if known is not None:
        return "SOL" if known.symbol == "WSOL" else known.symbol
    return symbol if is_mint(symbol) else symbol.upper()


def is_native_sol(symbol: str) -> bool:
    return symbol.upper() == "SOL"
