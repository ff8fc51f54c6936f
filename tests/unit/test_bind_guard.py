"""`order-engine api`/`dev` refuse to serve /saq (which can retry and abort jobs) beyond loopback without a token.

Before this guard existed `order_engine.app.cli` had neither `is_loopback` nor `check_bind`, so every test
here failed at import; the processes themselves are checked in tests/e2e/test_startup.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from order_engine.app import cli
from order_engine.app.cli import check_bind, is_loopback
from order_engine.app.settings import Settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),  # all of 127.0.0.0/8
        ("127.255.255.254", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),  # every interface
        ("::", False),
        ("", False),  # uvicorn/asyncio: all interfaces too
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("fe80::1", False),
        ("2001:db8::1", False),
        ("example.com", False),  # a host name other than localhost may resolve anywhere
        ("localhost.example.com", False),
        ("my-laptop", False),
        ("::ffff:127.0.0.1", False),  # not treated as loopback by Python 3.11: refused, which is the safe side
    ],
)
def test_loopback_is_localhost_or_a_loopback_ip(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


class _Log:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.warnings.append((event, kw))


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> _Log:
    fake = _Log()
    monkeypatch.setattr(cli, "log", fake)
    return fake


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_a_non_loopback_bind_without_a_token_is_refused_naming_host_variable_and_override(host: str, log: _Log) -> None:
    with pytest.raises(ValueError) as refused:
        check_bind(Settings(), host)
    message = str(refused.value)
    assert "\n" not in message
    assert f"on {host} " in message
    assert "ORDER_ENGINE_ADMIN_TOKEN" in message and "ORDER_ENGINE_ALLOW_UNGUARDED_BIND=true" in message
    assert log.warnings == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_binds_need_no_token(host: str, log: _Log) -> None:
    check_bind(Settings(), host)
    assert log.warnings == []


def test_a_token_allows_any_bind_silently(log: _Log) -> None:
    check_bind(replace(Settings(), admin_token="s3cret"), "0.0.0.0")
    check_bind(replace(Settings(), admin_token="s3cret", allow_unguarded_bind=True), "0.0.0.0")
    assert log.warnings == []


def test_the_override_allows_it_with_a_warning_naming_the_host(log: _Log) -> None:
    settings = replace(Settings(), allow_unguarded_bind=True)
    check_bind(settings, "0.0.0.0")
    assert len(log.warnings) == 1
    event, fields = log.warnings[0]
    assert event.startswith("/saq is unguarded on 0.0.0.0") and fields["host"] == "0.0.0.0"
    check_bind(settings, "10.0.0.5", warn=False)  # `dev` checks quietly: its API child warns
    check_bind(settings, "127.0.0.1")  # nothing to warn about on loopback
    assert len(log.warnings) == 1
