"""A small keep-alive HEAD load generator (asyncio, raw HTTP/1.1), for the one row wrk cannot drive.

wrk's response parser does not know it sent HEAD, so a HEAD answer without Content-Length (the Go
registry's) makes it wait for a body until the connection closes. This generator knows: an answer to
HEAD ends at the blank line after the headers. It cycles over agent ids like bench/wrk/head_heartbeat.lua,
over a fixed number of connections, for a fixed time. ``ceiling`` measures how fast it can go against
a trivial server in another process, which the benchmark prints under the table to show that the
generator is not the bottleneck.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HeadLoadResult:
    """Completed requests, their latencies (seconds) and the number of non-2xx answers or socket errors."""

    requests: int
    seconds: float
    latencies: list[float]
    errors: int


async def _connection(
    host: str, port: int, paths: list[str], offset: int, deadline: float, latencies: list[float]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    requests = [f"HEAD {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for path in paths]
    errors, index = 0, offset
    try:
        while time.perf_counter() < deadline:
            index = (index + 1) % len(requests)
            started = time.perf_counter()
            writer.write(requests[index])
            head = await reader.readuntil(b"\r\n\r\n")
            latencies.append(time.perf_counter() - started)
            status = int(head[9:12])
            if not 200 <= status < 300:
                errors += 1
            if b"\r\nconnection: close" in head.lower():
                # The server ends keep-alive after so many requests (Hypercorn: 1,000), as HTTP allows:
                # reconnect, as wrk and real clients do, rather than count it as an error.
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()
    return errors


async def _run(targets: list[tuple[str, list[str]]], connections: int, duration: float) -> HeadLoadResult:
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration
    jobs = []
    for i in range(connections):
        url, paths = targets[i % len(targets)]
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        jobs.append(_connection(host, port, paths, i * 7919, deadline, latencies))
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    elapsed = time.perf_counter() - started
    errors = sum(o if isinstance(o, int) else 1 for o in outcomes)
    return HeadLoadResult(requests=len(latencies), seconds=elapsed, latencies=latencies, errors=errors)


def head_load(url: str, paths: list[str], connections: int, duration: float) -> HeadLoadResult:
    """Send HEAD requests for ``paths`` (cycling) over ``connections`` keep-alive connections."""
    return head_load_many([(url, paths)], connections, duration)


def head_load_many(targets: list[tuple[str, list[str]]], connections: int, duration: float) -> HeadLoadResult:
    """HEAD load spread over several servers (replicas), each with its own paths; connections dealt out."""
    if not targets or any(not paths for _, paths in targets):
        raise ValueError("head_load needs at least one path per server")
    return asyncio.run(_run(targets, connections, duration))


# A server that answers every request at once, with no work: what the generator alone can reach.
TRIVIAL_SERVER = """
import asyncio, sys

class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        count = self.buffer.count(b"\\r\\n\\r\\n")
        if count:
            self.buffer = self.buffer.rsplit(b"\\r\\n\\r\\n", 1)[1]
            self.transport.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n" * count)

async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def _wait_listening(port: int, server: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the trivial calibration server did not start") from None
            time.sleep(0.05)


def ceiling(connections: int, duration: float, port: int) -> float:
    """Requests per second this generator reaches against a trivial server on ``port`` (a lower bound)."""
    server = subprocess.Popen([sys.executable, "-c", TRIVIAL_SERVER, str(port)])
    try:
        _wait_listening(port, server)
        result = head_load(f"http://127.0.0.1:{port}", ["/"], connections, duration)
        return result.requests / result.seconds
    finally:
        server.kill()
        server.wait(timeout=10)
