"""``/proxy/{host:port}/mcp...`` on our registry and on Go's: what is forwarded, and what is refused.

The upstream is a small HTTP server in this test process that registers itself the way agents do
(``POST /heartbeat`` with its host and port) and answers at ``/mcp`` with JSON (the headers it got),
at ``/mcp/sse`` with a server-sent-events stream, at ``/mcp/slow`` after a delay, and at
``/mcp/redirect`` with a redirect. It stands in for an agent so that every answer shape can be
produced on purpose; the real agents go through the proxy in test_meshctl.py (``meshctl call``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.go_registry import run_go_registry
from tests.processes import RunningProcess, free_port, run_registry

pytestmark = pytest.mark.timeout(120)

SLOW_SECONDS = 4.0
PROXY_TIMEOUT = "2"  # MCP_MESH_PROXY_TIMEOUT for both registries: the slow answer comes too late


class EchoAgent(BaseHTTPRequestHandler):
    """JSON, SSE, slow and redirecting answers under /mcp."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return

    def _body(self) -> bytes:
        """The request body, sent with a length (ours) or chunked (Go's proxy)."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _answer(self) -> None:
        body = self._body().decode()
        path = self.path.split("?")[0]
        if path == "/mcp/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/mcp/slow":
            time.sleep(SLOW_SECONDS)
        if path == "/mcp/sse":
            events = b"".join(f"event: message\ndata: {json.dumps({'n': n})}\n\n".encode() for n in range(3))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(events)))
            self.send_header("Mcp-Session-Id", "session-1")
            self.end_headers()
            self.wfile.write(events)
            return
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer
    do_DELETE = _answer


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), EchoAgent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("ours", marks=pytest.mark.agents),
        pytest.param("go", marks=pytest.mark.gocompat),
    ],
)
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, echo_agent: int
) -> Iterator[RunningProcess]:
    """A registry with the echo agent registered and a 2 s proxy timeout."""
    workdir = tmp_path_factory.mktemp(request.param)
    env = {"MCP_MESH_PROXY_TIMEOUT": PROXY_TIMEOUT, "MCP_MESH_PROPAGATE_HEADERS": "x-tenant"}
    if request.param == "ours":
        context = run_registry(workdir, env)
    else:
        request.getfixturevalue("go_registry_bin")
        context = run_go_registry(workdir, env)
    with context as running:
        body = {
            "agent_id": "echo-0001",
            "name": "echo",
            "http_host": "127.0.0.1",
            "http_port": echo_agent,
            "tools": [],
        }
        assert httpx.post(running.url + "/heartbeat", json=body, timeout=10).status_code == 200
        yield running


def is_go(registry: RunningProcess) -> bool:
    return "go-registry" in registry.log_path.name


def proxied(registry: RunningProcess, port: int, path: str = "/mcp", **kwargs: Any) -> httpx.Response:
    method = kwargs.pop("method", "POST")
    return httpx.request(method, f"{registry.url}/proxy/127.0.0.1:{port}{path}", timeout=30, **kwargs)


def test_a_json_answer_comes_back_with_the_propagated_headers(
    registry: RunningProcess, echo_agent: int
) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-Trace-ID": "trace-1",
        "X-Parent-Span": "span-1",
        "X-Mesh-Timeout": "20",
        "X-Mesh-Job-Id": "job-1",
        "X-Tenant": "blue",
        "X-Not-Propagated": "no",
    }
    response = proxied(registry, echo_agent, "/mcp?x=1", content=b'{"jsonrpc": "2.0"}', headers=headers)
    assert response.status_code == 200, response.text
    seen = response.json()
    path = "/mcp" if is_go(registry) else "/mcp?x=1"  # Go's proxy drops the query string
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", path, '{"jsonrpc": "2.0"}')
    for name in ("x-trace-id", "x-parent-span", "x-mesh-timeout", "x-mesh-job-id", "x-tenant"):
        assert seen["headers"].get(name) == headers[next(h for h in headers if h.lower() == name)], name
    assert "x-not-propagated" not in seen["headers"]


def test_an_sse_answer_streams_back_as_events(registry: RunningProcess, echo_agent: int) -> None:
    response = proxied(registry, echo_agent, "/mcp/sse", headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers.get("mcp-session-id") == "session-1"
    data = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    assert data == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_an_unregistered_host_is_refused(registry: RunningProcess, echo_agent: int) -> None:
    response = proxied(registry, free_port())
    assert response.status_code == 403
    assert "not a registered agent" in response.json()["error"]


def test_an_agent_that_does_not_answer_in_time_gets_a_json_gateway_timeout(
    registry: RunningProcess, echo_agent: int
) -> None:
    started = time.monotonic()
    response = proxied(registry, echo_agent, "/mcp/slow")
    elapsed = time.monotonic() - started
    assert response.status_code in (502, 504), response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]
    assert elapsed < SLOW_SECONDS, "the proxy waited for the agent past MCP_MESH_PROXY_TIMEOUT"


# Our registry's answers, and Go's: it answers 400 for another path, and it FOLLOWS an agent's redirect
# (here to a closed port, hence its 502) — which would let an agent send the registry anywhere.
@pytest.mark.parametrize(
    ("path", "ours", "go"),
    [
        ("/other", 403, 400),
        ("/mcp/../admin/drain", 403, None),
        ("/mcp/%2e%2e/admin", 403, None),
        ("/mcp/redirect", 403, 502),
    ],
)
def test_other_paths_and_redirects_are_refused(
    registry: RunningProcess, echo_agent: int, path: str, ours: int, go: int | None
) -> None:
    base = httpx.URL(registry.url)
    raw = f"/proxy/127.0.0.1:{echo_agent}{path}".encode()  # sent as written: no dot-segment clean-up
    url = httpx.URL(scheme=base.scheme, host=base.host, port=base.port, raw_path=raw)
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        response = client.send(client.build_request("POST", url))
    expected = go if is_go(registry) else ours
    if expected is None:
        return
    assert response.status_code == expected, response.text
    assert response.json()["error"]


def test_the_refusals_change_nothing(registry: RunningProcess, echo_agent: int, tmp_path: Path) -> None:
    before = httpx.get(registry.url + "/agents", timeout=10).json()["count"]
    for port in (free_port(), echo_agent):
        proxied(registry, port, "/other")
    assert httpx.get(registry.url + "/agents", timeout=10).json()["count"] == before
