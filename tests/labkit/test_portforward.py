"""The port-forwarder without a cluster: one stream per connection, opened at connect time (here a
plain loopback socket stands in for the API server's port-forward stream)."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from labkit.errors import LabError
from labkit.portforward import ApiForwarder, Stream, forwarding
from tests.labkit.stub_registry import StubState, stub_registry


def opener(targets: list[int], opened: list[int]) -> ApiForwarder:
    def open_stream() -> Stream:
        port = targets[-1]
        opened.append(port)
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    return ApiForwarder(open_stream)


def test_each_connection_opens_its_own_stream_to_the_current_target(stub: tuple[str, StubState]) -> None:
    url, state = stub
    with stub_registry() as (other_url, other_state):
        targets = [int(url.rsplit(":", 1)[1])]
        opened: list[int] = []
        forwarder = opener(targets, opened)
        port = forwarder.start()
        try:
            forwarded = f"http://127.0.0.1:{port}"
            with httpx.Client() as first:
                first.post(forwarded + "/agents", json={"id": "first", "capabilities": [], "endpoint": "x"})
            targets.append(int(other_url.rsplit(":", 1)[1]))  # a failover moved the Service
            with httpx.Client() as second:
                second.post(forwarded + "/agents", json={"id": "second", "capabilities": [], "endpoint": "x"})
        finally:
            forwarder.stop()
    assert "first" in state.agents
    assert "second" not in state.agents
    assert "second" in other_state.agents
    assert opened == targets


def test_concurrent_connections_each_get_their_bytes_back() -> None:
    echo = socket.create_server(("127.0.0.1", 0))
    echo_port = echo.getsockname()[1]

    def serve_echo() -> None:
        while True:
            try:
                conn, _ = echo.accept()
            except OSError:
                return

            def reply(c: socket.socket = conn) -> None:
                with c:
                    while data := c.recv(65536):
                        c.sendall(data)

            threading.Thread(target=reply, daemon=True).start()

    threading.Thread(target=serve_echo, daemon=True).start()
    opened: list[int] = []
    forwarder = opener([echo_port], opened)
    port = forwarder.start()
    trials = 16
    barrier = threading.Barrier(trials)
    results: dict[int, bytes] = {}

    def client(index: int) -> None:
        payload = bytes([index]) * 200_000
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            barrier.wait(timeout=10)
            sock.sendall(payload)
            received = b""
            while len(received) < len(payload):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        results[index] = received

    threads = [threading.Thread(target=client, args=(i,)) for i in range(trials)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    forwarder.stop()
    echo.close()
    assert {i: r == bytes([i]) * 200_000 for i, r in results.items()} == {i: True for i in range(trials)}
    assert len(opened) == trials


def test_a_connection_without_a_target_is_closed_and_the_next_one_works(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    ready = threading.Event()

    def open_stream() -> Stream:
        if not ready.is_set():
            raise LabError("svc/x has no ready pods behind it")
        return socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=5)

    with forwarding(open_stream) as forwarded:
        with pytest.raises(httpx.TransportError):
            httpx.get(forwarded + "/health", timeout=5)
        ready.set()
        assert httpx.get(forwarded + "/health", timeout=5).json() == {"status": "healthy"}


def test_stop_closes_open_connections_and_the_port() -> None:
    held = socket.create_server(("127.0.0.1", 0))
    forwarder = opener([held.getsockname()[1]], [])
    port = forwarder.start()
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    upstream, _ = held.accept()
    forwarder.stop()
    client.settimeout(5)
    assert client.recv(1) == b"", "the client sees the end"
    upstream.settimeout(5)
    assert upstream.recv(1) == b"", "the target sees the end"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    for sock in (client, upstream, held):
        sock.close()
