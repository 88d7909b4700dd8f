"""Unit tests: Service backends, pod host names, and the userspace TCP proxy."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from labkit.cluster.node.services import ServiceProxies, hosts_lines, service_backends

SERVICE = {
    "metadata": {"name": "db", "namespace": "lab"},
    "spec": {"clusterIP": "127.96.0.9", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]},
}
ENDPOINTS = {
    "subsets": [
        {
            "addresses": [{"ip": "127.244.0.2"}, {"ip": "127.244.0.3"}],
            "notReadyAddresses": [{"ip": "127.244.0.4"}],
            "ports": [{"name": "pg", "port": 15432}],
        }
    ]
}


def test_backends_are_the_ready_addresses_with_the_named_port() -> None:
    assert service_backends(SERVICE, ENDPOINTS) == {5432: [("127.244.0.2", 15432), ("127.244.0.3", 15432)]}
    assert service_backends(SERVICE, None) == {5432: []}


def test_hosts_lines_short_names_only_in_the_pods_namespace() -> None:
    headless = {"metadata": {"name": "web", "namespace": "lab"}, "spec": {"clusterIP": "None"}}
    endpoints = {("lab", "web"): {"subsets": [{"addresses": [{"ip": "127.244.0.5", "hostname": "web-0"}]}]}}
    same = hosts_lines("lab", [SERVICE, headless], endpoints)
    assert "127.96.0.9\tdb.lab.svc.cluster.local db.lab.svc db.lab db\n" in same
    assert "127.244.0.5\tweb-0.web.lab.svc.cluster.local web-0.web.lab.svc web-0.web.lab web-0.web\n" in same
    other = hosts_lines("elsewhere", [SERVICE], {})
    assert other == "127.96.0.9\tdb.lab.svc.cluster.local db.lab.svc db.lab\n"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(1024)
        self.request.sendall(self.server.server_address[0].encode() + b":" + data)  # type: ignore[index]


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ("127.0.0.1", int(server.server_address[1]))
    server.shutdown()
    server.server_close()


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def test_proxy_relays_to_a_backend_and_refuses_without_one(echo_server: tuple[str, int]) -> None:
    proxies = ServiceProxies(api=None, on_change=lambda: None)  # type: ignore[arg-type]
    threading.Thread(target=proxies.loop.run_forever, daemon=True).start()
    front = ("127.0.0.1", free_port("127.0.0.1"))
    try:
        asyncio.run_coroutine_threadsafe(proxies._reconcile({front: [echo_server]}), proxies.loop).result(5)
        with socket.create_connection(front, timeout=5) as conn:
            conn.sendall(b"ping")
            assert conn.recv(1024) == b"127.0.0.1:ping"
        asyncio.run_coroutine_threadsafe(proxies._reconcile({front: []}), proxies.loop).result(5)
        with socket.create_connection(front, timeout=5) as conn:
            conn.sendall(b"ping")
            try:
                answer = conn.recv(1024)
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed: no ready endpoint
        asyncio.run_coroutine_threadsafe(proxies._reconcile({}), proxies.loop).result(5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(front, timeout=5)
    finally:
        proxies.stop()
