"""Adapters: the ports of the domain, implemented on PostgreSQL, Redis, SAQ and a mock DEX."""
