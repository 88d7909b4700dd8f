"""A re-posted, unchanged, healthy agent costs one small UPDATE; anything else takes the full write."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import event

from tests.registry.conftest import Harness, tool

PROVIDER = [tool("serve", "data", tags=["x"])]
CONSUMER = [tool("use", "report", dependencies=[{"capability": "data"}])]


def record_statements(registry: Harness) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(registry.runtime.storage.statement_engine, "before_cursor_execute", record)
    return statements


async def agents_by_id(registry: Harness) -> dict[str, Any]:
    body = orjson.loads(await (await registry.client.get("/agents")).get_data())
    return {agent["id"]: agent for agent in body["agents"] or ()}


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_unchanged_repost_writes_only_the_times_in_the_next_batch(registry: Harness) -> None:
    await registry.register("agent-p", PROVIDER)
    first = await registry.register("agent-c", CONSUMER)
    await registry.register("agent-c", CONSUMER)  # the providers of "data" are now known in memory
    before = await agents_by_id(registry)
    await registry.pause_background()
    statements = record_statements(registry)
    again = await registry.register("agent-c", CONSUMER)
    assert statements == [], "an unchanged re-post is answered from memory, like a HEAD"
    assert again["message"] == "Agent updated via heartbeat"
    assert again["dependencies_resolved"] == first["dependencies_resolved"]
    await registry.runtime.liveness.flush()
    assert len(statements) == 1, statements
    assert statements[0].upper().startswith("UPDATE AGENTS SET UPDATED_AT"), statements
    assert "LAST_FULL_REFRESH" in statements[0].upper()
    after = await agents_by_id(registry)
    assert after["agent-c"]["last_seen"] > before["agent-c"]["last_seen"]
    for agent in (before, after):
        for item in agent.values():
            item.pop("last_seen")
    assert after == before


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_unchanged_repost_survives_a_restart_as_a_heartbeat(make_registry: Any) -> None:
    a = await make_registry()
    await a.register("agent-p", PROVIDER)
    await a.register("agent-p", PROVIDER)
    await a.register("agent-q", PROVIDER)  # a register event: agent-p must POST again to see it
    await a.register("agent-p", PROVIDER)  # unchanged: its times wait in A's batch
    await a.runtime.stop()  # a graceful stop writes the batch
    b = await make_registry()
    assert await b.head("/heartbeat/agent-p") == 200, "the re-post's last-full-refresh reached the database"


async def test_repost_after_unregister_revives(registry: Harness) -> None:
    await registry.register("agent-p", PROVIDER)
    await registry.register("agent-p", PROVIDER)
    await registry.client.delete("/agents/agent-p")
    await registry.register("agent-p", PROVIDER)
    assert (await agents_by_id(registry))["agent-p"]["status"] == "healthy"
    events = orjson.loads(await (await registry.client.get("/events?agent_id=agent-p")).get_data())
    assert [e["event_type"] for e in events["events"]][:2] == ["register", "unregister"]


async def test_changed_content_or_resolution_is_written(registry: Harness) -> None:
    await registry.register("agent-c", CONSUMER)
    await registry.register("agent-c", CONSUMER)
    unresolved = await registry.register("agent-c", CONSUMER)
    assert unresolved["dependencies_resolved"]["use"][0]["status"] == "unresolved"
    await registry.register("agent-p", PROVIDER)  # the same consumer payload now resolves differently
    resolved = await registry.register("agent-c", CONSUMER)
    assert resolved["dependencies_resolved"]["use"][0]["agent_id"] == "agent-p"
    listed = await agents_by_id(registry)
    assert listed["agent-c"]["dependency_resolutions"][0]["provider_agent_id"] == "agent-p"
    await registry.register("agent-c", CONSUMER, version="2.0.0")
    assert (await agents_by_id(registry))["agent-c"]["version"] == "2.0.0"


async def test_unchanged_repost_after_restore_is_written_again(registry: Harness) -> None:
    await registry.register("agent-p", PROVIDER)
    await registry.register("agent-p", PROVIDER)
    storage = registry.runtime.storage
    await storage.replace_all({"agents": [], "capabilities": [], "schema_entries": []})
    registry.runtime.liveness.restored(await storage.record_event("restore", "*", 0.0, {}))
    await registry.register("agent-p", PROVIDER)
    assert list(await agents_by_id(registry)) == ["agent-p"]


async def test_consumer_repost_sees_its_provider_go(registry: Harness) -> None:
    await registry.register("agent-p", PROVIDER)
    await registry.register("agent-c", CONSUMER)
    available = await registry.register("agent-c", CONSUMER)
    assert available["dependencies_resolved"]["use"][0]["status"] == "available"
    await registry.client.delete("/agents/agent-p")
    gone = await registry.register("agent-c", CONSUMER)
    assert gone["dependencies_resolved"]["use"][0]["status"] == "unresolved"
    listed = await agents_by_id(registry)
    assert listed["agent-c"]["dependency_resolutions"][0]["status"] == "unresolved"
