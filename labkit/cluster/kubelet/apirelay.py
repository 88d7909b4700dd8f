"""Relay the API server's port from the machine's end of the node link to its loopback address.

The API server listens on 127.0.0.1 only, which the node namespace cannot reach (its loopback is its
own). This relay listens on the node link's machine end, where the kubelet, kube-proxy and pods (through
the ``kubernetes`` Service) connect, and passes the TLS bytes through unchanged: authentication stays the
API server's. Run as ``python -m labkit.cluster.kubelet.apirelay LISTEN_IP PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.write_eof()


async def _relay(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, target: tuple[str, int]
) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
    finally:
        for writer in (client_writer, server_writer):
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()


async def serve(listen_ip: str, port: int, target_ip: str = "127.0.0.1") -> None:
    """Relay ``listen_ip:port`` to ``target_ip:port`` until SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(
        lambda reader, writer: _relay(reader, writer, (target_ip, port)), listen_ip, port, reuse_address=True
    )
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m labkit.cluster.kubelet.apirelay LISTEN_IP PORT", file=sys.stderr)
        return 2
    asyncio.run(serve(argv[0], int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
