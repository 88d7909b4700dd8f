"""Unit tests: the kubelet log endpoint over HTTPS (what ``kubectl logs`` reaches through the apiserver)."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster.node.logserver import (
    LogLookupError,
    LogServer,
    LogTarget,
    self_signed_certificate,
    tail_bytes,
)


def test_tail_bytes() -> None:
    assert tail_bytes(b"a\nb\nc\n", 2) == b"b\nc\n"
    assert tail_bytes(b"a\nb", None) == b"a\nb"
    assert tail_bytes(b"a\nb", 0) == b""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LogServer]:
    current = tmp_path / "2.log"
    current.write_text("one\ntwo\nthree\n")
    previous = tmp_path / "1.log"
    previous.write_text("before the crash\n")

    def finder(namespace: str, pod: str, container: str, want_previous: bool) -> LogTarget:
        if (namespace, pod, container) != ("lab", "web-0", "main"):
            raise LogLookupError(f'pod "{pod}" in namespace "{namespace}" not found on node')
        return LogTarget(previous if want_previous else current, lambda: False)

    cert, key = self_signed_certificate(tmp_path / "pki", "127.0.0.1")
    log_server = LogServer("127.0.0.1", 0, finder, cert, key, client_ca=None)
    log_server.start()
    yield log_server
    log_server.shutdown()
    log_server.server_close()


def fetch(server: LogServer, path: str) -> tuple[int, str]:
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(
            f"https://127.0.0.1:{server.port}{path}", context=context, timeout=5
        ) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_logs_tail_previous_and_errors(server: LogServer) -> None:
    assert fetch(server, "/containerLogs/lab/web-0/main") == (200, "one\ntwo\nthree\n")
    assert fetch(server, "/containerLogs/lab/web-0/main?tailLines=1") == (200, "three\n")
    assert fetch(server, "/containerLogs/lab/web-0/main?limitBytes=3") == (200, "one")
    assert fetch(server, "/containerLogs/lab/web-0/main?previous=true") == (200, "before the crash\n")
    assert fetch(server, "/containerLogs/lab/web-0/main?follow=true") == (200, "one\ntwo\nthree\n")
    status, body = fetch(server, "/containerLogs/lab/nope/main")
    assert status == 404
    assert 'pod "nope"' in body
    assert fetch(server, "/containerLogs/lab/web-0/main?tailLines=x")[0] == 400
    assert fetch(server, "/exec/lab/web-0/main")[0] == 404
