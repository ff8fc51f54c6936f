"""The HTTP API: the Litestar app factory, its routes, docs, errors and abuse limits."""
