"""The API keeps an idle HTTP connection open for ORDER_ENGINE_HTTP_KEEP_ALIVE_S, and its default outlasts clients'.

A server that closes an idle connection at the moment a client reuses it fails that request with no answer (the
client reads EOF): uvicorn's default of 5 s did exactly that to httpx (whose own expiry is 5 s) in the limit-order
burst test, about one run in ten on a loaded box. The default is now longer than httpx's expiry, so the client
always drops the connection first; this runs a stack with 2 s to see the setting reach the server.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import StackFactory

from order_engine.app.settings import Settings

pytestmark = pytest.mark.e2e

KEEP_ALIVE_S = 2
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: api\r\n\r\n"


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One request on the open connection; the status line, or b"" if the server had closed it."""
    writer.write(REQUEST)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    if status:
        headers = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
        length = int(headers.split("content-length:")[1].split("\r\n")[0])
        await reader.readexactly(length)
    return status


async def test_an_idle_connection_lives_for_the_keep_alive_and_is_closed_after_it(start_stack: StackFactory) -> None:
    stack = start_stack("short", workers=0, ORDER_ENGINE_HTTP_KEEP_ALIVE_S=str(KEEP_ALIVE_S))
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
    try:
        assert (await _request(reader, writer)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(KEEP_ALIVE_S / 2)
        assert (await _request(reader, writer)).startswith(b"HTTP/1.1 200")  # still open: reused
        await asyncio.sleep(KEEP_ALIVE_S + 1)
        # Closed by the server (EOF at once) when it had idled 2 s: uvicorn's own 5 s would still hold it open.
        assert await asyncio.wait_for(reader.read(), 0.5) == b""
    finally:
        writer.close()


def test_the_default_keep_alive_outlasts_httpx_and_load_balancer_idle_timeouts() -> None:
    assert Settings().http_keep_alive_s > httpx.Limits().keepalive_expiry  # 75 s > httpx's 5 s
    assert Settings().http_keep_alive_s > 60  # AWS ALB's default idle timeout
