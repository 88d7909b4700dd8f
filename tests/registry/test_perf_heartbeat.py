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


def assert_only_last_seen_moved(before: dict[str, Any], after: dict[str, Any], agent_id: str) -> None:
    assert after[agent_id]["last_seen"] > before[agent_id]["last_seen"]
    for agent in (before, after):
        for item in agent.values():
            item.pop("last_seen")
    assert after == before


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
    assert_only_last_seen_moved(before, await agents_by_id(registry), "agent-c")


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


SHARED_DATABASES = [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.mark.parametrize("database_env", SHARED_DATABASES, indirect=True)
async def test_unchanged_repost_on_a_shared_database_is_one_confirming_update(registry: Harness) -> None:
    await registry.register("agent-p", PROVIDER)
    await registry.register("agent-c", CONSUMER)
    first = await registry.register("agent-c", CONSUMER)  # resolved now: this content is what is stored
    before = await agents_by_id(registry)
    await registry.pause_background()
    statements = record_statements(registry)
    again = await registry.register("agent-c", CONSUMER)
    writes = [s for s in statements if not s.upper().startswith("SELECT")]
    assert [s.split()[0].upper() for s in writes] == ["UPDATE"], statements
    assert "CONTENT_DIGEST" in writes[0].upper()
    assert again["dependencies_resolved"] == first["dependencies_resolved"]
    assert_only_last_seen_moved(before, await agents_by_id(registry), "agent-c")


@pytest.mark.parametrize("database_env", SHARED_DATABASES, indirect=True)
async def test_a_changed_repost_on_a_shared_database_is_written_without_a_confirming_update(
    registry: Harness,
) -> None:
    await registry.register("agent-p", PROVIDER, version="1.0.0")
    await registry.register("agent-p", PROVIDER, version="1.0.0")
    await registry.pause_background()
    statements = record_statements(registry)
    await registry.register("agent-p", PROVIDER, version="2.0.0")
    updates = [s for s in statements if s.upper().startswith("UPDATE AGENTS")]
    assert len(updates) == 1, statements
    assert "CONTENT_DIGEST =" not in updates[0].upper().split("WHERE")[-1], statements
    assert (await agents_by_id(registry))["agent-p"]["version"] == "2.0.0"
    statements.clear()
    await registry.register("agent-p", PROVIDER, version="2.0.0")  # now unchanged: one confirming UPDATE
    writes = [s for s in statements if not s.upper().startswith("SELECT")]
    assert [s.split()[0].upper() for s in writes] == ["UPDATE"], statements


@pytest.mark.parametrize("database_env", SHARED_DATABASES, indirect=True)
async def test_a_replica_confirms_only_what_the_shared_database_holds(make_registry: Any) -> None:
    a, b = await make_registry(), await make_registry()
    await a.register("agent-p", PROVIDER, version="1.0.0")
    await a.register("agent-p", PROVIDER, version="1.0.0")
    await b.register("agent-p", PROVIDER, version="2.0.0")  # written by the other replica since
    await a.register("agent-p", PROVIDER, version="1.0.0")  # what A wrote last, no longer what is stored
    assert (await agents_by_id(b))["agent-p"]["version"] == "1.0.0"
