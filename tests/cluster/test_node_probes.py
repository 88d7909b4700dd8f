"""Unit tests: probe attempts against real sockets, and the threshold bookkeeping."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from labkit.cluster.node.probes import ProbeResult, ProbeTracker, resolve_port, run_probe


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/ok": 200, "/redirect": 302, "/down": 503}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_exec(command: list[str], timeout: float) -> tuple[int, str]:
    raise AssertionError("exec runner not expected")


def test_http_get_success_failure_and_named_ports(http_port: int) -> None:
    container = {"name": "web", "ports": [{"name": "http", "containerPort": http_port}]}
    for path, ok in (("/ok", True), ("/redirect", True), ("/down", False)):
        result = run_probe({"httpGet": {"path": path, "port": "http"}}, "127.0.0.1", container, no_exec)
        assert result.ok is ok, path
    down = run_probe({"httpGet": {"path": "/down", "port": http_port}}, "127.0.0.1", container, no_exec)
    assert down.message == "HTTP probe failed with statuscode: 503"
    refused = run_probe({"httpGet": {"path": "/", "port": closed_port()}}, "127.0.0.1", container, no_exec)
    assert not refused.ok
    assert "connection refused" in refused.message


def test_tcp_socket_and_exec(http_port: int) -> None:
    assert run_probe({"tcpSocket": {"port": http_port}}, "127.0.0.1", {}, no_exec).ok
    assert not run_probe({"tcpSocket": {"port": closed_port()}}, "127.0.0.1", {}, no_exec).ok
    calls: list[list[str]] = []

    def runner(command: list[str], timeout: float) -> tuple[int, str]:
        calls.append(command)
        return (0, "") if command[0] == "true" else (1, "not ready yet\n")

    assert run_probe({"exec": {"command": ["true"]}}, "", {}, runner).ok
    failed = run_probe({"exec": {"command": ["false"]}}, "", {}, runner)
    assert failed == ProbeResult(False, "not ready yet")
    assert calls == [["true"], ["false"]]


def test_unknown_named_port_fails_clearly() -> None:
    with pytest.raises(ValueError, match="not a named port"):
        resolve_port("metrics", {"name": "web", "ports": []})


def test_tracker_delays_periods_and_thresholds() -> None:
    probe = {"initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 2, "successThreshold": 2}
    tracker = ProbeTracker("readinessProbe", probe, started_monotonic=100.0, initial=False)
    assert not tracker.due(now=104.9)
    assert tracker.due(now=105.0)
    assert tracker.record(ProbeResult(True), now=105.0) is False  # one success of two needed
    assert not tracker.due(now=106.0)
    assert tracker.record(ProbeResult(True), now=107.0) is True
    assert tracker.healthy
    tracker.record(ProbeResult(False), now=109.0)
    assert tracker.healthy  # one failure of two tolerated
    assert tracker.record(ProbeResult(False), now=111.0) is True
    assert not tracker.healthy
