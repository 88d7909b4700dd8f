"""Port-forwarding that yields a stable local URL.

Two ways: a small TCP forwarder of our own (for the local cluster, whose pod IPs are loopback addresses
the host reaches directly; the target is re-resolved per connection so the URL survives a failover), and
the real ``kubectl port-forward`` for any other cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

from labkit.errors import LabError

Resolver = Callable[[], tuple[str, int]]
FORWARDING_LINE = re.compile(r"Forwarding from (127\.0\.0\.1|\[::1\]):(\d+) ->")


class LocalForwarder:
    """Listen on 127.0.0.1 and pipe each connection to ``resolve()``'s (host, port) at connect time."""

    def __init__(self, resolve: Resolver, *, cache_seconds: float = 1.0) -> None:
        self._resolve = resolve
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, tuple[str, int]] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="labkit-forwarder", daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    def start(self) -> int:
        """Start listening on a free loopback port and return it."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self.port

    def stop(self) -> None:
        """Stop listening, close open connections and end the thread."""
        if self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                for task in list(self._connections):
                    task.cancel()
                await asyncio.gather(*self._connections, return_exceptions=True)
                close_clients = getattr(server, "close_clients", None)  # Python 3.13+
                if close_clients is not None:
                    close_clients()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 5)

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def _target(self, fresh: bool) -> tuple[str, int]:
        now = time.monotonic()
        if not fresh and self._cached and now - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        target = self._resolve()
        self._cached = (now, target)
        return target

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        last_error: BaseException | None = None
        for fresh in (False, True):
            try:
                host, port = await loop.run_in_executor(None, self._target, fresh)
                return await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            except (OSError, TimeoutError, LabError) as exc:
                last_error = exc
        raise ConnectionError(f"no target reachable: {last_error}")

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            upstream_reader, upstream_writer = await self._connect()
        except ConnectionError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                pipe(client_reader, upstream_writer),
                pipe(upstream_reader, client_writer),
                return_exceptions=True,
            )
        except asyncio.CancelledError:  # the forwarder is stopping: end this connection quietly
            for writer in (client_writer, upstream_writer):
                writer.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes from reader to writer until EOF, then close the writer."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.contextmanager
def local_forward(resolve: Resolver) -> Iterator[str]:
    """Run a LocalForwarder for the block and yield its ``http://127.0.0.1:PORT`` URL."""
    forwarder = LocalForwarder(resolve)
    port = forwarder.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        forwarder.stop()


@contextlib.contextmanager
def kubectl_forward(command: list[str], env: dict[str, str], timeout: float = 30.0) -> Iterator[str]:
    """Run ``kubectl port-forward ... :PORT``, wait for its "Forwarding from" line, yield the URL."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    try:
        port = wait_forwarding_port(proc, timeout)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_forwarding_port(proc: subprocess.Popen[str], timeout: float) -> int:
    """Read kubectl's output until it names the local port; raise LabError if it exits or takes too long."""
    assert proc.stdout is not None
    found: list[int] = []
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.strip())
            match = FORWARDING_LINE.search(line)
            if match:
                found.append(int(match.group(2)))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if found:
        # keep draining kubectl's output so its pipe never fills up
        threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
        return found[0]
    last = seen[-1] if seen else "no output"
    if not reader.is_alive():  # kubectl closed its output: it is exiting
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    if proc.poll() is not None:
        raise LabError(f"kubectl port-forward exited with status {proc.returncode}: {last}")
    raise LabError(f"kubectl port-forward did not start forwarding within {timeout:g}s: {last}")
