"""A tiny stand-in registry on loopback for labkit's unit tests (the real one is tested elsewhere)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The registry's exposition in small: the guide's untyped agents_total beside the conventional gauge.
METRICS = """# HELP mcp_registry_agents_total Agents by status
# TYPE mcp_registry_agents_total untyped
mcp_registry_agents_total{status="healthy"} %(agents)d
mcp_registry_agents_total{status="unhealthy"} 0
# HELP mcp_registry_agents Agents by status
# TYPE mcp_registry_agents gauge
mcp_registry_agents{status="healthy"} %(agents)d
mcp_registry_agents{status="unhealthy"} 0
# HELP mcp_registry_requests_total Requests
# TYPE mcp_registry_requests_total counter
mcp_registry_requests_total{method="POST",route="/agents",status="200"} %(requests)d
"""


class StubState:
    """What the stub has seen: registered agents and a request counter; ``ready`` toggles /ready."""

    def __init__(self) -> None:
        self.agents: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.ready = True
        self.lock = threading.Lock()


def make_handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return raw

        def do_GET(self) -> None:
            if self.path == "/health":
                self.reply(200, {"status": "healthy"})
            elif self.path == "/ready":
                self.reply(200 if state.ready else 503, {"ready": state.ready, "reason": "stub"})
            elif self.path == "/agents":
                self.reply(200, {"agents": list(state.agents.values()), "count": len(state.agents)})
            elif self.path == "/metrics":
                text = METRICS % {"agents": len(state.agents), "requests": state.requests}
                self.reply(200, text.encode(), "text/plain; version=0.0.4")
            elif self.path == "/admin/backup":
                if self.headers.get("Authorization") != "Bearer secret":
                    self.reply(401, {"error": "missing or wrong bearer token"})
                else:
                    self.reply(200, json.dumps(state.agents).encode(), "application/octet-stream")
            else:
                self.reply(404, b"404 page not found", "text/plain")

        def do_HEAD(self) -> None:
            agent = self.path.removeprefix("/heartbeat/")
            self.reply(200 if agent in state.agents else 410)

        def do_POST(self) -> None:
            raw = self.body()
            with state.lock:
                state.requests += 1
            if self.path == "/agents":
                try:
                    payload = json.loads(raw)
                except ValueError:
                    self.reply(400, {"error": "invalid JSON"})
                    return
                if not isinstance(payload.get("id"), str):
                    self.reply(400, {"error": "id is required"})
                    return
                state.agents[payload["id"]] = payload
                self.reply(200, {"status": "success", "agent_id": payload["id"]})
            elif self.path == "/heartbeat":
                payload = json.loads(raw)
                if not payload.get("agent_id", "").islower():
                    self.reply(
                        200, {"status": "error", "message": "validation failed: agent_id", "agent_id": ""}
                    )
                    return
                state.agents[payload["agent_id"]] = payload
                self.reply(200, {"status": "success", "message": "ok", "agent_id": payload["agent_id"]})
            elif self.path == "/admin/restore":
                state.agents = json.loads(raw)
                self.reply(200, {"restored": len(state.agents)})
            else:
                self.reply(404, b"404 page not found", "text/plain")

        def do_DELETE(self) -> None:
            state.agents.pop(self.path.removeprefix("/agents/"), None)
            self.reply(204)

    return Handler


@contextlib.contextmanager
def stub_registry() -> Iterator[tuple[str, StubState]]:
    """Serve the stub on a free loopback port; yield its URL and state."""
    state = StubState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
