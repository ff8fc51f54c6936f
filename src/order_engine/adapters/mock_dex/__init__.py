"""A realistic mock of Raydium and Meteora and of the chain they settle on."""

from order_engine.adapters.mock_dex.chain import RedisMockChain
from order_engine.adapters.mock_dex.venue import MockVenue, VenueModel, default_venues

__all__ = ["MockVenue", "RedisMockChain", "VenueModel", "default_venues"]
