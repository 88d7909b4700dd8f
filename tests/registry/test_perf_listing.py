"""GET /agents kept rendered per agent: after changes it equals a fresh rendering, and reads only them."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from registry import listing as listing_module
from registry.listing import AgentListing
from registry.storage.repository import AgentFilter
from tests.registry.conftest import Harness, tool


async def listed(registry: Harness) -> dict[str, Any]:
    response = await registry.client.get("/agents")
    assert response.status_code == 200
    body = orjson.loads(await response.get_data())
    body.pop("timestamp")
    return dict(body)


async def fresh(registry: Harness, flt: AgentFilter | None = None) -> dict[str, Any]:
    runtime = registry.runtime
    body = orjson.loads(await AgentListing(runtime.storage, runtime.liveness).body(flt or AgentFilter()))
    body.pop("timestamp")
    return dict(body)


async def test_listing_after_changes_equals_a_fresh_rendering(registry: Harness) -> None:
    await registry.register("agent-p", [tool("serve", "data")])
    await registry.register("agent-c", [tool("use", "report", dependencies=[{"capability": "data"}])])
    await registry.register("agent-x", [tool("other", "misc")])
    assert (await listed(registry))["count"] == 3  # rendered and cached

    steps = [
        lambda: registry.register("agent-x", [tool("other", "misc")], description="changed"),
        lambda: registry.client.delete("/agents/agent-p"),  # the consumer's resolution turns unavailable
        lambda: registry.register("agent-m", [tool("middle", "misc")]),  # a new id inside the order
        lambda: registry.register("agent-p", [tool("serve", "data")]),  # revived
        lambda: registry.client.delete("/agents/agent-c"),
    ]
    for step in steps:
        await step()
        assert await listed(registry) == await fresh(registry)

    body = await listed(registry)
    assert [agent["id"] for agent in body["agents"]] == ["agent-c", "agent-m", "agent-p", "agent-x"]
    consumer = body["agents"][0]
    assert consumer["status"] == "unhealthy"
    assert consumer["dependency_resolutions"][0]["status"] == "available", "agent-p is back"


async def test_filtered_listing_follows_status_changes(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    await registry.register("agent-b", [tool("f", "b")])
    healthy = await registry.client.get("/agents?status=healthy")
    assert orjson.loads(await healthy.get_data())["count"] == 2
    await registry.client.delete("/agents/agent-a")
    response = await registry.client.get("/agents?status=healthy")
    body = orjson.loads(await response.get_data())
    assert [agent["id"] for agent in body["agents"]] == ["agent-b"]
    body.pop("timestamp")
    assert body == await fresh(registry, AgentFilter(status="healthy"))


# SQLite: one process owns the file, so nothing expires the rendering on a timer (shared databases
# re-read everything once a second, which a slow machine could hit in the middle of this test).
@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_a_change_reads_only_the_changed_agent(registry: Harness) -> None:
    for name in ("agent-a", "agent-b", "agent-c"):
        await registry.register(name, [tool("f", name)])
    await listed(registry)
    storage = registry.runtime.storage
    reads: list[Any] = []
    original = storage.list_agents

    async def recording(flt: AgentFilter, agent_ids: Any = None) -> Any:
        reads.append(agent_ids)
        return await original(flt, agent_ids)

    storage.list_agents = recording  # type: ignore[method-assign]
    await registry.register("agent-b", [tool("f", "agent-b")], version="2.0.0")
    body = await listed(registry)
    assert reads == [{"agent-b"}]
    assert [agent["version"] for agent in body["agents"]] == ["", "2.0.0", ""]
    await listed(registry)
    assert reads == [{"agent-b"}], "an unchanged mesh is answered from memory"


async def test_a_large_listing_is_encoded_in_slices_with_turns_of_the_loop_between(
    registry: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(7):
        await registry.register(f"agent-{index}", [tool("f", f"cap-{index}")])
    whole = await listed(registry)
    monkeypatch.setattr(listing_module, "ENCODE_SLICE", 2)
    listing = AgentListing(registry.runtime.storage, registry.runtime.liveness)
    await listing.body(AgentFilter())  # rendered: the next body only encodes
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    meanwhile = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    try:
        body = orjson.loads(await listing.body(AgentFilter()))
    finally:
        meanwhile.cancel()
    assert turns >= 4, f"other work ran {turns} times while 7 agents were encoded 2 at a time"
    body.pop("timestamp")
    assert body == whole
