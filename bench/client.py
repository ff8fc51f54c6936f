"""The load client: a small HTTP/1.1 keep-alive client on raw asyncio, and open/closed-loop drivers.

Why not httpx or aiohttp: the client must not be the bottleneck on a 2-core box where it shares
the CPU with the server. A request here is one pre-encoded `bytes` write and a response parse that
only looks at the status line and Content-Length. `bench.ceiling` measures what each client tops
out at against a server that does nothing.

Latency in the open-loop driver runs from the request's *scheduled* start, not from when a
connection became free, so a stalled server shows up as latency (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class HttpError(Exception):
    pass


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        total = end + 4 + length
        if len(self.buf) < total:
            return
        body = bytes(self.buf[end + 4 : total])
        del self.buf[:total]
        status = int(head[9:12])
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            return await self.waiter
        finally:
            self.waiter = None


def build_request(method: str, path: str, host: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HttpClient:
    """A pool of up to `max_connections` keep-alive connections to one host:port."""

    def __init__(self, host: str, port: int, max_connections: int = 256) -> None:
        self.host, self.port = host, port
        self.max_connections = max_connections
        self._idle: list[_Conn] = []
        self._open = 0
        self._freed = asyncio.Condition()

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    def request_bytes(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        return build_request(method, path, self.authority, body, headers)

    async def _acquire(self) -> _Conn:
        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
                self._open -= 1
            if self._open < self.max_connections:
                self._open += 1
                try:
                    _, conn = await asyncio.get_running_loop().create_connection(_Conn, self.host, self.port)
                except BaseException:
                    self._open -= 1
                    raise
                return conn
            async with self._freed:
                await self._freed.wait()

    async def _release(self, conn: _Conn) -> None:
        if conn.closed:
            self._open -= 1
        else:
            self._idle.append(conn)
        async with self._freed:
            self._freed.notify()

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        conn = await self._acquire()
        try:
            return await conn.request(raw)
        except BaseException:
            if conn.transport is not None:
                conn.transport.close()
            conn.closed = True
            raise
        finally:
            await self._release(conn)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.send(self.request_bytes("GET", path))

    async def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()
        self._open = 0


@dataclass
class Sample:
    scheduled: float  # perf_counter() time the request was due (open loop) or sent (closed loop)
    done: float
    status: int  # 0: transport error or timeout
    body: bytes = b""

    @property
    def latency_s(self) -> float:
        return self.done - self.scheduled


@dataclass
class LoadResult:
    offered_rps: float | None  # None for closed loop
    duration_s: float  # the scheduled window
    elapsed_s: float  # first scheduled start to last completion
    samples: list[Sample] = field(default_factory=list)

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if 200 <= s.status < 300]

    @property
    def achieved_rps(self) -> float:
        return len(self.ok) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return len(self.samples) - len(self.ok)

    def latencies_ms(self) -> list[float]:
        return [s.latency_s * 1000 for s in self.ok]


RequestFactory = Callable[[int], bytes]


async def open_loop(
    client: HttpClient | list[HttpClient],
    make: RequestFactory,
    rate: float,
    duration_s: float,
    timeout_s: float = 10.0,
    keep_body: bool = False,
) -> LoadResult:
    """Start request i at t0 + i/rate whatever the server does; wait for them (up to `timeout_s` each)."""
    clients = client if isinstance(client, list) else [client]
    clock = time.perf_counter  # uvloop's loop.time() ticks in whole milliseconds
    total = max(1, int(rate * duration_s))
    samples: list[Sample] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        try:
            status, body = await asyncio.wait_for(clients[i % len(clients)].send(make(i)), timeout_s)
        except (TimeoutError, OSError, HttpError):
            status, body = 0, b""
        samples.append(Sample(due, clock(), status, body if keep_body else b""))

    t0 = clock() + 0.01
    i = 0
    while i < total:
        now = clock()
        while i < total and t0 + i / rate <= now:
            tasks.append(asyncio.create_task(one(i, t0 + i / rate)))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, min(0.002, t0 + i / rate - clock())))
    await asyncio.gather(*tasks)
    elapsed = max(s.done for s in samples) - t0
    return LoadResult(rate, duration_s, max(elapsed, duration_s), samples)


async def closed_loop(
    client: HttpClient | list[HttpClient],
    make: RequestFactory,
    concurrency: int,
    duration_s: float | None = None,
    count: int | None = None,
    timeout_s: float = 10.0,
    keep_body: bool = False,
) -> LoadResult:
    """`concurrency` loops, each sending its next request when the last answered; for `duration_s` or `count`."""
    clients = client if isinstance(client, list) else [client]
    clock = time.perf_counter  # uvloop's loop.time() ticks in whole milliseconds
    samples: list[Sample] = []
    counter = iter(range(count if count is not None else 1 << 62))
    t0 = clock()
    stop_at = t0 + duration_s if duration_s is not None else float("inf")

    async def worker() -> None:
        for i in counter:
            if clock() >= stop_at:
                return
            started = clock()
            try:
                status, body = await asyncio.wait_for(clients[i % len(clients)].send(make(i)), timeout_s)
            except (TimeoutError, OSError, HttpError):
                status, body = 0, b""
            samples.append(Sample(started, clock(), status, body if keep_body else b""))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(None, duration_s or 0.0, clock() - t0, samples)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary_ms(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "max": max(values_ms) if values_ms else float("nan"),
        "n": len(values_ms),
    }


def now_wall() -> float:
    return time.time()
