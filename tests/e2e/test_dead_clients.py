"""A client whose network goes silent is dropped by the API's pings, and its subscriber slot is freed.

The silent client is a raw TCP socket that completes the WebSocket handshake, reads the snapshot and
then never answers anything, as a phone that lost its network would; the kernel still ACKs, so only
the application-level ping can tell. The API runs with pings every 0.5 s, a 0.5 s pong timeout and one
subscriber per order, and no worker, so the order stays pending and the streams stay open.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from typing import Any

import httpx
import pytest
from conftest import StackFactory
from stack import Stack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.e2e

PING_S = 0.5
OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING = 0x1, 0x8, 0x9


class SilentClient:
    """A WebSocket client that reads but never writes after the handshake: no pongs, no close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, stack: Stack, path: str) -> SilentClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes] | None:
        """The next server frame (unmasked, unfragmented), or None at end of stream."""
        try:
            first, second = await self.reader.readexactly(2)
        except asyncio.IncompleteReadError:
            return None
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def test_silent_client_is_closed_by_pings_and_frees_its_slot(start_stack: StackFactory) -> None:
    stack = start_stack(
        "pings",
        workers=0,
        ORDER_ENGINE_WS_PING_INTERVAL_S=str(PING_S),
        ORDER_ENGINE_WS_PING_TIMEOUT_S=str(PING_S),
        ORDER_ENGINE_WS_MAX_PER_ORDER="1",
    )
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        order_id = (
            await client.post("/api/orders/execute", json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"})
        ).json()["orderId"]
    path = f"/api/orders/{order_id}/ws"

    silent = await SilentClient.open(stack, path)
    opened = time.monotonic()
    snapshot = await asyncio.wait_for(silent.frame(), 10)
    assert snapshot is not None and snapshot[0] == OPCODE_TEXT
    assert json.loads(snapshot[1])["status"] == "pending"

    # While the silent client holds the order's only slot, another subscriber is refused (1013).
    with pytest.raises(ConnectionClosed) as refused:
        async with connect(f"{stack.ws_base}{path}", open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 1013

    # The server pings, gets no pong, and closes the connection.
    frames: list[int] = []
    while (got := await asyncio.wait_for(silent.frame(), 15)) is not None:
        frames.append(got[0])
        if got[0] == OPCODE_CLOSE:
            close_code = struct.unpack("!H", got[1][:2])[0]
            break
    dropped_after = time.monotonic() - opened
    silent.close()
    assert OPCODE_PING in frames and frames[-1] == OPCODE_CLOSE, frames
    assert close_code == 1011  # "keepalive ping timeout"
    assert dropped_after < 2 * PING_S + 3, f"silent client dropped only after {dropped_after:.1f}s"

    # Its slot is free again: a healthy client is admitted, answers the pings, and stays connected.
    ws, first = await subscribe_when_admitted(f"{stack.ws_base}{path}", within_s=5)
    async with ws:
        assert first["status"] == "pending" and first["seq"] == 1
        with pytest.raises(TimeoutError):  # six ping intervals without being closed
            await asyncio.wait_for(ws.recv(), 6 * PING_S)
        await asyncio.wait_for(ws.ping(), 5)  # and the connection still carries traffic


async def subscribe_when_admitted(url: str, within_s: float) -> tuple[ClientConnection, dict[str, Any]]:
    """The server frees a slot a moment after it sends the close: retry 1013 refusals briefly."""
    deadline = time.monotonic() + within_s
    while True:
        ws = await connect(url, open_timeout=10)
        try:
            return ws, json.loads(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1013, closed
            assert time.monotonic() < deadline, "the silent client's slot was never freed"
        await asyncio.sleep(0.1)
