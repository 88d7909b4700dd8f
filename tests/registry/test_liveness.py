"""The hot path: HEAD costs no database statement; replicas on one database see each other's changes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from registry.storage.schema import registry_events
from tests.registry.conftest import Harness, MakeRegistry, tool


def count_statements(registry: Harness) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(registry.runtime.storage.statement_engine, "before_cursor_execute", record)
    return statements


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_head_costs_no_database_statement(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    await registry.register("agent-b", [tool("f", "b")])
    await registry.pause_background()
    statements = count_statements(registry)
    for _ in range(50):
        assert await registry.head("/heartbeat/agent-a") == 202
        assert await registry.head("/heartbeat/agent-b") == 200
    assert statements == [], "neither 200 nor 202 touches the database"
    await registry.runtime.liveness.flush()
    assert len(statements) == 1, "one batched UPDATE for all pending last-seen times"
    assert statements[0].lstrip().upper().startswith("UPDATE AGENTS")


async def test_replicas_on_one_database_see_each_other(make_registry: MakeRegistry) -> None:
    a = await make_registry()
    b = await make_registry()
    # Only the explicit syncs run on B: with a write of B's own in flight (a monitor pass), a sync defers
    # an event it cannot yet tell from B's own to the next one, and under load one came in between.
    await b.pause_background()
    await a.register("agent-x", [tool("f", "x")])
    assert await b.head("/heartbeat/agent-x") == 200, "B finds an agent registered through A"
    await a.register("agent-y", [tool("f", "y")])
    await b.runtime.liveness.sync()
    assert await b.head("/heartbeat/agent-x") == 202, "B learns of A's registration from the events"
    await a.register("agent-x", [tool("f", "x")])  # unchanged: its times go out with A's next batch
    b.runtime.liveness.sync_interval = 0.0  # confirm every 202 (normally at most once a second)
    if a.runtime.settings.database_type == "sqlite":  # PostgreSQL/MySQL are shared: A writes at once
        assert await b.head("/heartbeat/agent-x") == 202, "not written yet: B cannot know of the re-post"
    await a.runtime.liveness.flush()  # A's batch, at most LAST_SEEN_FLUSH_INTERVAL later
    assert await b.head("/heartbeat/agent-x") == 200, "B re-reads the agent before answering 202"
    assert (await a.client.delete("/agents/agent-x")).status_code == 204
    await b.runtime.liveness.sync()
    assert await b.head("/heartbeat/agent-x") == 410, "B learns of the unregister"


async def test_batched_last_seen_reaches_the_database(make_registry: MakeRegistry) -> None:
    a = await make_registry()
    b = await make_registry()
    await a.register("agent-x", [tool("f", "x")])
    first = (await (await b.client.get("/agents")).get_json())["agents"][0]["last_seen"]
    assert await a.head("/heartbeat/agent-x") == 200
    await a.runtime.liveness.flush()
    await b.runtime.liveness.sync()  # B's background sync, once a second
    # B re-reads its listing at least once per sync interval (the sync may have run before the first GET).
    deadline = time.monotonic() + 3 * b.runtime.liveness.sync_interval
    while (second := (await (await b.client.get("/agents")).get_json())["agents"][0]["last_seen"]) == first:
        assert time.monotonic() < deadline, "B never showed A's batched last-seen time"
        await asyncio.sleep(0.05)
    assert second > first


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_database_trouble_gives_503_not_410(registry: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await registry.register("agent-a", [tool("f", "a")])

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("database is away")

    monkeypatch.setattr(registry.runtime.storage, "agent_state", broken)
    assert await registry.head("/heartbeat/agent-a") == 200, "a cached agent is answered from memory"
    assert await registry.head("/heartbeat/not-cached") == 503, "back off, do not re-register"
    monkeypatch.setattr(registry.runtime.storage, "save_registration", broken)
    response = await registry.client.post("/heartbeat", json={"agent_id": "agent-b", "tools": []})
    body = await response.get_json()
    assert response.status_code == 503, "an outage is not the agent's error: it backs off and posts again"
    assert response.headers["Retry-After"] == "5"
    assert body["error"].startswith("database unavailable")


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_only_an_event_turns_other_agents_heads_into_202(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    await registry.register("agent-b", [tool("f", "b")])
    await registry.register("agent-a", [tool("f", "a")])  # has now seen b's registration
    assert await registry.head("/heartbeat/agent-a") == 200
    await registry.register("agent-b", [tool("f", "b")])  # a known agent's update: no event
    await registry.register("agent-b", [tool("f", "b", tags=["new"])])  # changed content: still no event
    assert await registry.head("/heartbeat/agent-a") == 200, "no event, no topology change"
    await registry.register("agent-c", [tool("f", "c")])  # a registration writes a register event
    assert await registry.head("/heartbeat/agent-a") == 202


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_history_beyond_the_log_counts_as_missed(
    registry: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent whose resolution predates the remembered topology events is told to re-post."""
    monkeypatch.setattr("registry.liveness.TOPOLOGY_LOG_SIZE", 2)
    liveness = registry.runtime.liveness
    liveness.registered("agent-b", 1.0, event_id=101, seen_event_id=100)
    liveness.registered("agent-a", 1.0, event_id=102, seen_event_id=100)  # resolved before b's event
    liveness.status_changed("agent-a", "unhealthy", event_id=103)
    liveness.registered("agent-a", 1.0, event_id=104, seen_event_id=100)  # only a's own events remain
    assert liveness.topology_changed("agent-a", 100), "b's event 101 is forgotten, not known to be seen"
    assert not liveness.topology_changed("agent-a", 102), "everything after 102 is a's own"
    assert liveness.topology_changed("agent-b", 101), "a's events are news to b"


async def test_a_deleted_event_does_not_hold_the_watermark_back(make_registry: MakeRegistry) -> None:
    """Ids have holes only where rows were deleted (purge, trim): the poller passes over them."""
    a = await make_registry()
    b = await make_registry()
    await a.register("agent-x", [tool("f", "x")])
    await b.register("agent-y", [tool("f", "y")])
    storage = a.runtime.storage
    newest = await storage.last_event_id()
    await storage.transaction(lambda conn: conn.execute(sa.delete(registry_events)))
    await a.runtime.liveness.sync()
    assert a.runtime.liveness.event_watermark == newest
    await b.register("agent-z", [tool("f", "z")])
    await a.runtime.liveness.sync()
    assert a.runtime.liveness.event_watermark == newest + 1
    assert await a.head("/heartbeat/agent-x") == 202, "z's register event, after x's resolution"
