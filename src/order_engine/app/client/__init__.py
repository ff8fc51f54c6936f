"""A client of a running engine's HTTP API, and the `order-engine` subcommands built on it (`sim …`)."""
