"""The registry's HTTP API, the same suite on SQLite, PostgreSQL and MariaDB (see conftest.database_env)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.registry.conftest import Harness, tool

AGENT_INFO_KEYS = {
    *("id", "name", "agent_type", "runtime", "version", "description", "a2a_producer", "a2a_consumer"),
    *("status", "endpoint", "capabilities", "total_dependencies", "dependencies_resolved"),
    *(
        "dependency_resolutions",
        "llm_tool_resolutions",
        "llm_provider_resolutions",
        "created_at",
        "last_seen",
    ),
}
GUIDE_AGENT = {"id": "test-agent-1", "capabilities": ["test"], "endpoint": "http://agent-1:8080"}


async def agents(registry: Harness, query: str = "") -> dict[str, Any]:
    response = await registry.client.get("/agents" + query)
    assert response.status_code == 200
    return await response.get_json()


async def test_guide_registration_is_listed_with_capabilities(registry: Harness) -> None:
    response = await registry.client.post("/agents", json=GUIDE_AGENT)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["id"] == "test-agent-1"
    assert body["status"] == "registered"
    listed = await agents(registry)
    assert listed["count"] == 1
    agent = listed["agents"][0]
    assert agent["id"] == "test-agent-1"
    assert agent["endpoint"] == "http://agent-1:8080"
    assert agent["status"] == "healthy"
    assert [c["name"] for c in agent["capabilities"]] == ["test"]
    caps = await (await registry.client.get("/capabilities")).get_json()
    assert caps["count"] == 1
    assert caps["capabilities"][0]["name"] == "test"
    assert caps["capabilities"][0]["providers"][0]["agent_id"] == "test-agent-1"
    assert caps["capabilities"][0]["healthy_providers"] == 1


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"capabilities": ["x"], "endpoint": "http://a:1"}, "id"),
        ({"id": "Not_Valid", "capabilities": ["x"], "endpoint": "http://a:1"}, "id"),
        ({"id": "a", "capabilities": "x", "endpoint": "http://a:1"}, "capabilities"),
        ({"id": "a", "capabilities": [1], "endpoint": "http://a:1"}, "capabilities"),
        ({"id": "a", "capabilities": ["x"], "endpoint": "agent:8080"}, "endpoint"),
        ({"id": "a", "capabilities": ["x"]}, "endpoint"),
        ([1, 2], "object"),
    ],
)
async def test_guide_registration_rejects_bad_bodies_and_stores_nothing(
    registry: Harness, body: Any, complaint: str
) -> None:
    response = await registry.client.post("/agents", json=body)
    assert response.status_code == 400
    assert complaint in (await response.get_json())["error"]
    assert (await agents(registry))["agents"] is None


async def test_heartbeat_registration_response_shape(registry: Harness) -> None:
    body = await registry.register(
        "greeter-1", [tool("greet", "greeting")], http_host="127.0.0.1", http_port=9001
    )
    assert set(body) == {"agent_id", "status", "message", "timestamp", "dependencies_resolved", "llm_tools"}
    assert body["status"] == "success"
    assert body["message"] == "Agent registered via heartbeat"
    assert body["dependencies_resolved"] == {}
    assert body["llm_tools"] == {}
    again = await registry.register("greeter-1", [tool("greet", "greeting")])
    assert again["message"] == "Agent updated via heartbeat"
    listed = await agents(registry)
    assert listed["agents"][0]["endpoint"] == "http://127.0.0.1:9001", "a POST without host keeps the old one"


async def test_resolution_follows_the_spec_example(registry: Harness) -> None:
    await registry.register("p-old", [tool("f", "svc", "1.5.0", ["x"])], http_host="h", http_port=1)
    await registry.register("p-new", [tool("f", "svc", "2.1.0", ["x"])], http_host="h", http_port=2)
    await registry.register("p-pref", [tool("f", "svc", "1.0.0", ["x", "fast"])], http_host="h", http_port=3)
    deps = [
        {"capability": "svc"},
        {"capability": "svc", "version": "<2.0.0"},
        {"capability": "svc", "tags": ["+fast"]},
        {"capability": "svc", "version": ">=3"},
        {"capability": "svc", "tags": ["x", "-fast"], "version": "^1"},
        {"capability": "svc", "tags": [["nope", "fast"]]},
    ]
    body = await registry.register("consumer", [tool("use", "consume", dependencies=deps)])
    chosen = [item["agent_id"] for item in body["dependencies_resolved"]["use"]]
    assert chosen == ["p-new", "p-old", "p-pref", "", "p-old", "p-pref"]
    unresolved = body["dependencies_resolved"]["use"][3]
    assert unresolved == {
        "agent_id": "",
        "capability": "svc",
        "endpoint": "",
        "function_name": "",
        "status": "unresolved",
    }
    assert body["dependencies_resolved"]["use"][0]["endpoint"] == "http://h:2"
    listed = {a["id"]: a for a in (await agents(registry))["agents"]}
    assert listed["consumer"]["total_dependencies"] == 6
    assert listed["consumer"]["dependencies_resolved"] == 5


async def test_unhealthy_provider_is_not_chosen_and_resolutions_flip(registry: Harness) -> None:
    await registry.register("provider-a", [tool("f", "svc", "1.0.0")], http_host="h", http_port=1)
    body = await registry.register("consumer", [tool("use", "c", dependencies=[{"capability": "svc"}])])
    assert body["dependencies_resolved"]["use"][0]["status"] == "available"
    response = await registry.client.delete("/agents/provider-a")
    assert response.status_code == 204
    listed = {a["id"]: a for a in (await agents(registry))["agents"]}
    assert listed["provider-a"]["status"] == "unhealthy"
    assert listed["provider-a"]["capabilities"][0]["available"] is False
    assert listed["provider-a"]["capabilities"][0]["unavailable_reason"] == "agent unhealthy"
    assert listed["consumer"]["dependency_resolutions"][0]["status"] == "unavailable"
    body = await registry.register("consumer", [tool("use", "c", dependencies=[{"capability": "svc"}])])
    assert body["dependencies_resolved"]["use"][0]["status"] == "unresolved"


async def test_fast_heartbeat_codes(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    assert await registry.head("/heartbeat/agent-a") == 200
    assert await registry.head("/heartbeat/unknown-agent") == 410
    await registry.register("agent-b", [tool("f", "b")])
    assert await registry.head("/heartbeat/agent-a") == 202, "another agent registered: topology changed"
    assert await registry.head("/heartbeat/agent-a") == 202, "202 repeats until the agent POSTs"
    await registry.register("agent-a", [tool("f", "a")])
    assert await registry.head("/heartbeat/agent-a") == 200
    assert (await registry.client.delete("/agents/agent-b")).status_code == 204
    assert (await registry.client.delete("/agents/agent-b")).status_code == 204, "idempotent"
    assert (await registry.client.delete("/agents/never-was")).status_code == 204
    assert await registry.head("/heartbeat/agent-b") == 410, "HEAD never revives"
    assert await registry.head("/heartbeat/agent-a") == 202
    await registry.register("agent-b", [tool("f", "b")])
    assert await registry.head("/heartbeat/agent-b") == 200, "a POST revives"


async def test_fast_heartbeat_moves_last_seen(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    before = (await agents(registry))["agents"][0]["last_seen"]
    await asyncio.sleep(0.01)
    assert await registry.head("/heartbeat/agent-a") == 200
    after = (await agents(registry))["agents"][0]["last_seen"]
    assert after > before


async def test_post_without_tools_wipes_capabilities(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a"), tool("g", "b")])
    assert len((await agents(registry))["agents"][0]["capabilities"]) == 2
    await registry.register("agent-a")
    assert (await agents(registry))["agents"][0]["capabilities"] is None


async def test_agent_list_shape_and_filters(registry: Harness) -> None:
    empty = await agents(registry)
    assert empty["agents"] is None
    assert empty["count"] == 0
    await registry.register("weather-1", [tool("get_weather", "weather")], namespace="prod")
    await registry.register("api-1", [tool("call", "gateway")], agent_type="api")
    await registry.register("gone-1", [tool("f", "weather-extra")])
    await registry.client.delete("/agents/gone-1")
    item = (await agents(registry, "?namespace=prod"))["agents"][0]
    assert set(item) == AGENT_INFO_KEYS
    assert item["dependency_resolutions"] is None
    assert item["endpoint"] == "stdio://weather-1"

    def ids(body: dict[str, Any]) -> list[str]:
        return sorted(a["id"] for a in body["agents"] or [])

    assert ids(await agents(registry, "?status=unhealthy")) == ["gone-1"]
    assert ids(await agents(registry, "?type=api")) == ["api-1"]
    assert ids(await agents(registry, "?capabilities=weather")) == ["weather-1"]
    assert ids(await agents(registry, "?capabilities=weather&capabilities=gateway")) == ["api-1", "weather-1"]
    assert ids(await agents(registry, "?capabilities=WEATHER&fuzzy=true")) == ["gone-1", "weather-1"]
    response = await registry.client.get("/agents?status=sleepy")
    assert response.status_code == 400
    assert "status" in (await response.get_json())["error"]


async def test_both_registration_shapes_share_one_model(registry: Harness) -> None:
    assert (await registry.client.post("/agents", json=GUIDE_AGENT)).status_code == 200
    body = await registry.register("consumer", [tool("use", "c", dependencies=[{"capability": "test"}])])
    resolved = body["dependencies_resolved"]["use"][0]
    assert resolved["agent_id"] == "test-agent-1"
    assert resolved["endpoint"] == "http://agent-1:8080"
    assert await registry.head("/heartbeat/test-agent-1") == 202, (
        "known, healthy, and the consumer came after"
    )
    caps = await (await registry.client.get("/capabilities")).get_json()
    assert {c["name"] for c in caps["capabilities"]} == {"test", "c"}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "Invalid JSON payload"),
        (b'{"tools": []}', 400, "agent_id is required"),
        (b'{"agent_id": "a", "http_port": "80"}', 400, "http_port"),
        (b'{"agent_id": "a", "tools": {}}', 400, "tools"),
        (b'{"agent_id": "a", "timestamp": "yesterday"}', 400, "timestamp"),
        (
            b'{"agent_id": "a", "tools": [{"function_name": "f", "capability": "c", "dependencies": [[]]}]}',
            400,
            "dependencies",
        ),
        (b'{"agent_id": "Bad_Id"}', 200, "validation failed"),
        (b'{"agent_id": "a", "namespace": "Not A Label"}', 200, "namespace"),
    ],
)
async def test_bad_heartbeats_are_refused_and_change_nothing(
    registry: Harness, body: bytes, status: int, fragment: str
) -> None:
    response = await registry.client.post(
        "/heartbeat", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    answer = await response.get_json()
    text = answer.get("error") or answer.get("message")
    assert fragment in text
    if status == 200:
        assert answer["status"] == "error"
        assert "dependencies_resolved" not in answer
    assert (await agents(registry))["agents"] is None


async def test_required_dependency_cycle_is_rejected(registry: Harness) -> None:
    await registry.register(
        "agent-a", [tool("f", "cap-a", dependencies=[{"capability": "cap-b", "required": True}])]
    )
    response = await registry.client.post(
        "/heartbeat",
        json={
            "agent_id": "agent-b",
            "tools": [tool("g", "cap-b", dependencies=[{"capability": "cap-a", "required": True}])],
        },
    )
    body = await response.get_json()
    assert body["status"] == "error"
    assert "required dependency cycle" in body["message"]
    assert [a["id"] for a in (await agents(registry))["agents"]] == ["agent-a"]


async def test_unknown_keys_are_ignored_and_framework_tools_accepted(registry: Harness) -> None:
    body = await registry.register(
        "agent-x",
        [tool("__mesh_job_status", "__mesh_job_status", tags=["mesh-jobs", "framework"])],
        status="healthy",
        llm_agents=[],
        something_new={"a": 1},
    )
    assert body["status"] == "success"


async def test_events_and_schemas(registry: Harness) -> None:
    digest = "sha256:" + "ab" * 32
    schema_tool = tool("f", "a", inputSchemaCanonical={"type": "object"}, inputSchemaHash=digest)
    await registry.register("agent-a", [schema_tool])
    await registry.client.delete("/agents/agent-a")
    events = await (await registry.client.get("/events")).get_json()
    assert [e["event_type"] for e in events["events"]] == ["unregister", "register"]
    assert events["events"][0]["data"]["reason"] == "graceful_shutdown"
    only = await (await registry.client.get("/events?type=register&limit=1")).get_json()
    assert only["count"] == 1
    assert only["events"][0]["event_type"] == "register"
    assert (await (await registry.client.get("/events?type=nonsense")).get_json())["count"] == 0
    schemas = await (await registry.client.get("/schemas")).get_json()
    assert schemas["count"] == 1
    assert schemas["schemas"][0]["hash"] == digest
    one = await registry.client.get(f"/schemas/{digest}")
    assert (await one.get_json())["canonical"] == {"type": "object"}
    assert (await registry.client.get("/schemas/sha256:00")).status_code == 404


async def test_small_protocol_routes(registry: Harness) -> None:
    root = await (await registry.client.get("/")).get_json()
    assert root["service"] == "mcp-mesh-registry"
    assert root["status"] == "running"
    claim = await registry.client.post("/jobs/claim", json={"capability": "x", "instance_id": "i"})
    assert await claim.get_json() == {"claimed": []}
    missing = await registry.client.post("/jobs/claim", json={"instance_id": "i"})
    assert missing.status_code == 400
    assert (await missing.get_json())["error"] == "capability is required"
    head = await registry.client.open("/health", method="HEAD")
    assert head.status_code == 200
    assert head.headers["X-Health-Status"] == "healthy"
    missing = await registry.client.get("/no/such/route")
    assert missing.status_code == 404
    assert "not found" in (await missing.get_json())["error"]
    wrong = await registry.client.put("/heartbeat")
    assert wrong.status_code == 405


async def test_body_size_limit(make_registry: Any) -> None:
    registry = await make_registry(MAX_BODY_BYTES="2048")
    big = {"agent_id": "agent-a", "description": "x" * 4096}
    response = await registry.client.post("/heartbeat", json=big)
    assert response.status_code == 413
    assert "too large" in (await response.get_json())["error"]
    assert (await agents(registry))["agents"] is None


async def test_hundred_concurrent_guide_registrations_all_succeed(registry: Harness) -> None:
    async def register(index: int) -> int:
        body = {
            "id": f"test-agent-{index}",
            "capabilities": ["test"],
            "endpoint": f"http://agent-{index}:8080",
        }
        return (await registry.client.post("/agents", json=body)).status_code

    statuses = await asyncio.gather(*(register(i) for i in range(100)))
    assert statuses == [200] * 100
    listed = await agents(registry)
    assert listed["count"] == 100
