"""The load client's own ceiling: each client against a server that does nothing (`python -m bench.ceiling serve`).

The server is a bare asyncio protocol on uvloop that answers every request with the same bytes, so
what tops out is the client. Run first, so every later number can be checked against it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

from bench.client import HttpClient, closed_loop, summary_ms
from bench.stack import free_port, wait_port

RESPONSE = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'


class _Trivial(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")  # GETs only: no bodies
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * n)  # type: ignore[attr-defined]


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Trivial, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def serve(port: int) -> None:
    import uvloop

    uvloop.run(_serve(port))


async def _raw(port: int, concurrency: int, duration_s: float) -> tuple[float, dict[str, float]]:
    client = HttpClient("127.0.0.1", port, max_connections=concurrency)
    raw = client.request_bytes("GET", "/")
    result = await closed_loop(client, lambda _: raw, concurrency, duration_s)
    await client.close()
    return result.achieved_rps, summary_ms(result.latencies_ms())


async def _aiohttp(port: int, concurrency: int, duration_s: float) -> tuple[float, dict[str, float]]:
    import aiohttp

    lat: list[float] = []
    url = f"http://127.0.0.1:{port}/"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        stop = time.perf_counter() + duration_s
        t0 = time.perf_counter()

        async def loop() -> None:
            while time.perf_counter() < stop:
                s = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                lat.append((time.perf_counter() - s) * 1000)

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return len(lat) / elapsed, summary_ms(lat)


async def _httpx(port: int, concurrency: int, duration_s: float) -> tuple[float, dict[str, float]]:
    import httpx

    lat: list[float] = []
    url = f"http://127.0.0.1:{port}/"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        stop = time.perf_counter() + duration_s
        t0 = time.perf_counter()

        async def loop() -> None:
            while time.perf_counter() < stop:
                s = time.perf_counter()
                await client.get(url)
                lat.append((time.perf_counter() - s) * 1000)

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return len(lat) / elapsed, summary_ms(lat)


CLIENTS = {"raw asyncio (bench.client)": _raw, "aiohttp": _aiohttp, "httpx": _httpx}


async def measure(duration_s: float, concurrency: int = 32) -> list[dict[str, Any]]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.ceiling", "serve", str(port)])
    try:
        await wait_port(port)
        rows = []
        for name, run in CLIENTS.items():
            seconds = duration_s if name != "httpx" else min(duration_s, 2.0)
            rps, lat = await run(port, concurrency, seconds)
            rows.append({"client": name, "concurrency": concurrency, "rps": rps, "latency_ms": lat})
        return rows
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
