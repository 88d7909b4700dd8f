"""The heartbeats through the ASGI fast path answer exactly as the Quart routes do, and count the same."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from registry.app import create_app
from registry.fastpath import HeartbeatFastPath
from tests.processes import run_registry
from tests.registry.conftest import Harness, tool


async def call_fast_path(
    fast: HeartbeatFastPath, body: bytes, method: str = "POST", chunks: int = 1, path: str = "/heartbeat"
) -> tuple[int, dict[str, str], Any]:
    """One request straight into the ASGI app: (status, headers, decoded JSON body)."""
    size = -(-len(body) // chunks)
    pieces = [body[i * size : (i + 1) * size] for i in range(chunks)]
    messages = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if chunks == 1:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": headers,
        "http_version": "1.1",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "asgi": {"version": "3.0"},
        "extensions": {},
    }
    await fast(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_bytes = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], names, orjson.loads(body_bytes) if body_bytes else None


def without_times(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {k: without_times(v) for k, v in payload.items() if k != "timestamp"}
    return payload


BODIES = {
    "registration": orjson.dumps({"agent_id": "agent-a", "tools": [tool("f", "cap-a")]}),
    "update": orjson.dumps({"agent_id": "agent-a", "tools": [tool("f", "cap-a", version="2.0.0")]}),
    "consumer": orjson.dumps(
        {"agent_id": "agent-c", "tools": [tool("g", "cap-c", dependencies=[{"capability": "cap-a"}])]}
    ),
    "malformed JSON": b'{"agent_id": ',
    "empty body": b"",
    "no agent_id": b'{"tools": []}',
    "not an object": b"[1, 2]",
    "semantic error": orjson.dumps({"agent_id": "bad id with spaces", "tools": [{"function_name": ""}]}),
}


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", list(BODIES))
async def test_fast_path_answers_as_the_quart_route(case: str, make_registry: Any) -> None:
    quart_side: Harness = await make_registry()
    fast_side: Harness = await make_registry()  # a second replica on the same database
    fast = HeartbeatFastPath(create_app(fast_side.runtime), fast_side.runtime)
    body = BODIES[case]
    expected = await quart_side.client.post(
        "/heartbeat", data=body, headers={"Content-Type": "application/json"}
    )
    expected_json = orjson.loads(await expected.get_data()) if await expected.get_data() else None
    status, headers, payload = await call_fast_path(fast, body)
    assert status == expected.status_code
    assert headers["content-type"] == expected.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(headers["content-length"]) > 0
    assert set(payload) == set(expected_json)
    if case in ("registration", "update", "consumer"):
        assert payload["status"] == expected_json["status"] == "success"
        assert payload["dependencies_resolved"] == expected_json["dependencies_resolved"]
    else:  # the same error, word for word
        assert without_times(payload) == without_times(expected_json)


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_body_in_pieces_over_the_limit_and_other_methods(make_registry: Any) -> None:
    registry: Harness = await make_registry(MAX_BODY_BYTES="2048")
    fast = HeartbeatFastPath(create_app(registry.runtime), registry.runtime)
    status, _, payload = await call_fast_path(fast, BODIES["registration"], chunks=3)
    assert (status, payload["status"]) == (200, "success"), "a body in several messages is joined"
    big = orjson.dumps({"agent_id": "agent-big", "tools": [], "description": "x" * 4096})
    for chunks in (1, 4):  # declared by Content-Length, or only counted as it arrives
        status, _, payload = await call_fast_path(fast, big, chunks=chunks)
        assert status == 413
        assert payload["error"] == "request body too large: the limit is 2048 bytes"
    agents = orjson.loads(await (await registry.client.get("/agents")).get_data())["agents"] or []
    assert "agent-big" not in {a["id"] for a in agents}, "a refused body stores nothing"
    status, _, payload = await call_fast_path(fast, b"", method="GET")
    assert status == 405, "other methods on the path go to the Quart app"
    assert "not allowed" in payload["error"]


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_head_answers_as_the_quart_route(make_registry: Any) -> None:
    registry: Harness = await make_registry()
    fast = HeartbeatFastPath(create_app(registry.runtime), registry.runtime)
    await registry.register("agent-a", [tool("f", "a")])
    await registry.register("agent-b", [tool("f", "b")])
    answers = {}
    for agent_id in ("agent-a", "agent-b", "agent-unknown"):
        path = f"/heartbeat/{agent_id}"
        expected = await registry.head(path)
        answers[agent_id] = await call_fast_path(fast, b"", method="HEAD", path=path)
        assert answers[agent_id] == (expected, {"content-length": "0"}, None), agent_id
    # a has not seen b's registration, b has; nobody is unknown
    assert [status for status, _, _ in answers.values()] == [202, 200, 410]
    status, _, _ = await call_fast_path(fast, b"", method="HEAD", path="/heartbeat/a/b")
    assert status == 404, "an id with a slash is no agent id: the Quart app answers"


def test_real_server_serves_the_fast_path_and_counts_it(tmp_path: Path) -> None:
    with run_registry(tmp_path, {"MAX_BODY_BYTES": "4096"}) as registry:
        answer = httpx.post(
            registry.url + "/heartbeat", json={"agent_id": "agent-a", "tools": [tool("f", "a")]}
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json; charset=utf-8"
        assert answer.json()["status"] == "success"
        bad = httpx.post(
            registry.url + "/heartbeat", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("Invalid JSON payload:")
        big = httpx.post(registry.url + "/heartbeat", content=b"x" * 10_000)
        assert big.status_code == 413
        # A client that sends headers and disappears: the server stays up and answers the next one.
        host, port = registry.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(b"POST /heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert httpx.get(registry.url + "/agents").json()["count"] == 1
        assert httpx.head(registry.url + "/heartbeat/agent-a").status_code == 200
        assert httpx.head(registry.url + "/heartbeat/agent-nobody").status_code == 410
        text = httpx.get(registry.url + "/metrics").text
        assert 'mcp_registry_requests_total{method="POST",route="/heartbeat",status="200"} 1.0' in text
        assert 'mcp_registry_requests_total{method="POST",route="/heartbeat",status="400"} 1.0' in text
        assert 'mcp_registry_requests_total{method="POST",route="/heartbeat",status="413"} 1.0' in text
        assert 'mcp_registry_heartbeats_total{kind="full",result="ok"} 1.0' in text
        assert (
            'mcp_registry_requests_total{method="HEAD",route="/heartbeat/<agent_id>",status="410"} 1.0'
            in text
        )
        assert 'mcp_registry_heartbeats_total{kind="fast",result="200"} 1.0' in text
