"""What every `order-engine` client command shares: exit codes, the client from `--url`, errors as exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from order_engine.app.client.http import DEFAULT_URL, ApiError, EngineClient, Unreachable
from order_engine.app.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENDED, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

T = TypeVar("T")


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the engine's API (default: ORDER_ENGINE_URL, else {DEFAULT_URL})")
    parser.add_argument("--admin-token", help="operator credential (default: ORDER_ENGINE_ADMIN_TOKEN)")


def duration_s(text: str) -> float:
    """`90s`, `5m`, `2h`, `1d` (or plain seconds) as seconds; ValueError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    value = float(number)
    if not value >= 0 or value == float("inf"):
        raise ValueError(text)
    return value * units[unit]


def moment(text: str, *, now: datetime | None = None) -> str:
    """A duration from now (`90s`, `2h`) or an RFC 3339 time with its offset, as RFC 3339; ValueError otherwise."""
    try:
        return ((now or datetime.now(UTC)) + timedelta(seconds=duration_s(text))).isoformat()
    except ValueError:
        pass
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return at.isoformat()


def engine_url(args: argparse.Namespace) -> str | None:
    """`--url`, else ORDER_ENGINE_URL, else the default; None (the error printed) for one that is not http(s)."""
    url = args.url or os.environ.get("ORDER_ENGINE_URL") or DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        print(f"error: --url must be an http:// or https:// URL, got {url!r}", file=sys.stderr)
        return None
    return url.rstrip("/")


def with_client(settings: Settings, args: argparse.Namespace, run: Callable[[EngineClient], int]) -> int:
    """`run` with a client of the engine at `--url`, authenticated with `--admin-token` (else
    ORDER_ENGINE_ADMIN_TOKEN); exit 2 for a URL that is not http(s)."""
    url = engine_url(args)
    if url is None:
        return EXIT_USAGE
    token = args.admin_token if args.admin_token is not None else settings.admin_token
    with EngineClient(url, admin_token=token) as client:
        return run(client)


def answer(call: Callable[[], T], *, not_found_hint: str = "") -> tuple[T | None, int]:
    """(the API's answer, EXIT_OK), or (None, the exit code) with the API's error printed on stderr: 2 for a 4xx
    (the request is wrong), 4 for 429, a 5xx or no answer (worth trying again)."""
    try:
        return call(), EXIT_OK
    except (Unreachable, ApiError) as exc:
        return None, report(exc, not_found_hint=not_found_hint)


def report(exc: Unreachable | ApiError, *, not_found_hint: str = "") -> int:
    """Print what went wrong (the API's message) on stderr; the exit code for it."""
    if isinstance(exc, Unreachable):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    hint = not_found_hint if exc.status == 404 else ""
    print(f"error: {exc.status} {exc.detail}{hint}", file=sys.stderr)
    return EXIT_UNAVAILABLE if exc.retryable else EXIT_USAGE
