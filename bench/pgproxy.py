"""A counting PostgreSQL proxy: forwards bytes untouched and reads the wire protocol as they pass.

Counts, per proxy (one per engine process, so API and worker are told apart):
- round trips: the server's ReadyForQuery ('Z') messages — one per simple Query and one per Sync
  of the extended protocol, i.e. one per wait of the client on the server;
- statements: simple Queries ('Q') plus Executes ('E'), by their first SQL keyword (BEGIN, COMMIT,
  ROLLBACK, SELECT, INSERT, UPDATE; `;` is the pool's pre-ping), Executes attributed through the
  Parse ('P') and Bind ('B') that named their statement;
- parses ('P'): statements prepared (asyncpg prepares each new statement once per connection).
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit, urlunsplit

SSL_REQUEST, GSSENC_REQUEST, PROTOCOL_3 = 80877103, 80877104, 196608


def kind(sql: str) -> str:
    words = sql.strip().rstrip(";").split(None, 1)
    return words[0].upper() if words else "ping (;)"


class _Session:
    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts
        self.c_buf = bytearray()
        self.s_buf = bytearray()
        self.c_started = False
        self.s_raw_bytes = 0  # one untyped byte answers an SSL/GSSENC request
        self.statements: dict[bytes, str] = {}
        self.bound = ""

    def client(self, data: bytes) -> None:
        buf = self.c_buf
        buf += data
        while True:
            if not self.c_started:
                if len(buf) < 8:
                    return
                (length,) = struct.unpack_from("!i", buf, 0)
                if len(buf) < length:
                    return
                (code,) = struct.unpack_from("!i", buf, 4)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    self.s_raw_bytes += 1
                elif code == PROTOCOL_3:
                    self.c_started = True
                del buf[:length]
                continue
            if len(buf) < 5:
                return
            (length,) = struct.unpack_from("!i", buf, 1)
            if len(buf) < 1 + length:
                return
            tag, body = buf[0:1], bytes(buf[5 : 1 + length])
            del buf[: 1 + length]
            if tag == b"Q":
                self.counts["statements"] += 1
                self.counts["stmt " + kind(body.split(b"\0", 1)[0].decode(errors="replace"))] += 1
            elif tag == b"P":
                name, rest = body.split(b"\0", 1)
                self.statements[name] = kind(rest.split(b"\0", 1)[0].decode(errors="replace"))
                self.counts["parses"] += 1
            elif tag == b"B":
                _portal, rest = body.split(b"\0", 1)
                self.bound = self.statements.get(rest.split(b"\0", 1)[0], "?")
            elif tag == b"E":
                self.counts["statements"] += 1
                self.counts["stmt " + self.bound] += 1

    def server(self, data: bytes) -> None:
        buf = self.s_buf
        buf += data
        while True:
            if self.s_raw_bytes:
                if not buf:
                    return
                del buf[:1]
                self.s_raw_bytes -= 1
                continue
            if len(buf) < 5:
                return
            (length,) = struct.unpack_from("!i", buf, 1)
            if len(buf) < 1 + length:
                return
            if buf[0:1] == b"Z":
                self.counts["round_trips"] += 1
            del buf[: 1 + length]


class PgProxy:
    """Listens on 127.0.0.1:<port>, forwards to the server of `database_url` (TCP or unix socket)."""

    def __init__(self, database_url: str) -> None:
        self.target = urlsplit(database_url)
        self.counts: Counter[str] = Counter()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._sessions: set[asyncio.Task[None]] = set()

    def proxied_url(self) -> str:
        """`database_url` pointing at this proxy (same user, password and database)."""
        user = self.target.netloc.rsplit("@", 1)[0] + "@" if "@" in self.target.netloc else ""
        query = "&".join(f"{k}={v[0]}" for k, v in parse_qs(self.target.query).items() if k != "host")
        return urlunsplit(("postgresql", f"{user}127.0.0.1:{self.port}", self.target.path, query, ""))

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = parse_qs(self.target.query).get("host", [None])[0]
        if socket_dir and socket_dir.startswith("/"):
            port = self.target.port or 5432
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(self.target.hostname or "127.0.0.1", self.target.port or 5432)

    async def start(self) -> PgProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        session = _Session(self.counts)
        self.counts["connections"] += 1
        try:
            up_reader, up_writer = await self._upstream()
        except OSError:
            writer.close()
            self._sessions.discard(task)
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, seen: Callable[[bytes], None]) -> None:
            try:
                while data := await src.read(65536):
                    seen(data)
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer, session.client), pump(up_reader, writer, session.server))
        except asyncio.CancelledError:
            writer.close()
            up_writer.close()
        finally:
            self._sessions.discard(task)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
