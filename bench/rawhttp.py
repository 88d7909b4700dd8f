"""A small keep-alive HTTP/1.1 client pool on raw asyncio streams, for the storm and the soak.

Thousands of simulated agents share a fixed number of connections. httpx would spend more CPU per
request than the registries under test (both load generators share the machine with them), so this
client does only what the benchmark needs: requests with a JSON body or none, answers with a
Content-Length or, for HEAD, none (the Go registry sends no Content-Length on HEAD).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit


class ResponseError(Exception):
    """An answer this client cannot read (chunked, or cut off)."""


@dataclass(frozen=True)
class Response:
    """Status and body of one answer."""

    status: int
    body: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class RawClient:
    """``connections`` keep-alive connections to one server, shared by any number of coroutines."""

    def __init__(self, url: str, connections: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # opened on first use

    async def request(self, method: str, path: str, body: bytes = b"") -> Response:
        """Send one request and read its answer; reconnects when the server ends keep-alive."""
        async with self._connection() as holder:
            conn = holder[0]
            if conn is None:
                conn = holder[0] = await self._open()
            head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            if body:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            conn.writer.write(head.encode() + b"\r\n" + body)
            try:
                response, keep = await self._read(conn, method)
            except BaseException:
                conn.close()
                holder[0] = None
                raise
            if not keep:
                conn.close()
                holder[0] = None
            return response

    async def close(self) -> None:
        """Close every idle connection."""
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                conn.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[list[_Connection | None]]:
        holder = [await self._idle.get()]
        try:
            yield holder
        finally:
            self._idle.put_nowait(holder[0])

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    @staticmethod
    async def _read(conn: _Connection, method: str) -> tuple[Response, bool]:
        head = await conn.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        keep = True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                raise ResponseError("chunked answers are not supported by this benchmark client")
            elif name == b"connection" and b"close" in value.lower():
                keep = False
        body = b"" if method == "HEAD" or not length else await conn.reader.readexactly(length)
        return Response(status, body), keep
