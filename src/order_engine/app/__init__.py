"""Composition: settings, the Litestar app, the SAQ worker and the CLI."""
