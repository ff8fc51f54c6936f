"""Tokens the engine trades, with their on-chain decimals.

Native SOL is swapped as wrapped SOL (wSOL); `SOL` and `WSOL` name the same mint.
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


def token(symbol: str) -> Token | None:
    return TOKENS.get(symbol.upper())


def market_symbol(symbol: str) -> str:
    """The symbol the market's pools use for a token: WSOL trades in SOL's pools (one mint)."""
    symbol = symbol.upper()
    return "SOL" if symbol == "WSOL" else symbol


def is_native_sol(symbol: str) -> bool:
    return symbol.upper() == "SOL"
