"""order-engine: market-order execution for Solana DEXes."""

__version__ = "0.1.0"
