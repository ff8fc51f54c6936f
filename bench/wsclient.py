"""A minimal WebSocket client on raw asyncio, for the live-updates scenario.

Why not aiohttp or websockets: with 5,000 sockets receiving bursts of thousands of frames, a
client that wakes a task per frame spends as much CPU as the server it measures, on the same two
cores, and its own queueing shows up as "latency". Here each frame is stamped the moment its bytes
arrive (in `data_received`, before any task runs) and stored; nothing else happens per frame. It
speaks just what the scenario needs: the RFC 6455 handshake, unmasked server frames (text, close,
ping), masked client pong/close, no extensions.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time


class Refused(Exception):
    pass


def _masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body  # control frames: ≤ 125 bytes


class WsSubscriber(asyncio.Protocol):
    def __init__(self, path: str, host: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.received: list[tuple[float, bytes]] = []  # (arrival time, text payload)
        self.ready = asyncio.get_running_loop().create_future()  # first text frame (the snapshot)
        self.closed = asyncio.get_running_loop().create_future()  # close code
        self.close_reason = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(Refused(f"connection lost before the snapshot: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[9:12])
            del self.buf[: end + 4]
            if status != b"101":
                self.ready.set_exception(Refused(f"HTTP {status.decode()}"))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.upgraded = True
        self._frames(arrived)

    def _frames(self, arrived: float) -> None:
        buf = self.buf
        while len(buf) >= 2:
            opcode, length, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                (length,), pos = struct.unpack_from("!H", buf, 2), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,), pos = struct.unpack_from("!Q", buf, 2), 10
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            del buf[: pos + length]
            if opcode == 1:
                self.received.append((arrived, payload))
                if not self.ready.done():
                    self.ready.set_result(None)
            elif opcode == 8:
                code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
                self.close_reason = payload[2:]
                if not self.ready.done():
                    self.ready.set_exception(Refused(f"closed {code} before the snapshot"))
                self.transport.write(_masked(8, payload[:2]))  # type: ignore[union-attr]
                self.transport.close()  # type: ignore[union-attr]
                if not self.closed.done():
                    self.closed.set_result(code)
                return
            elif opcode == 9:
                self.transport.write(_masked(10, payload))  # type: ignore[union-attr]


async def subscribe(host: str, port: int, path: str) -> WsSubscriber:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: WsSubscriber(path, f"{host}:{port}"), host, port)
    return proto
