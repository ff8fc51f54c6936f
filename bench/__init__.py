"""`python -m bench` (`make bench`): benchmarks of order-engine on real PostgreSQL, Redis and processes."""
