"""The health monitor: silence → unhealthy with an event (consumers see 202), retention → purge."""

from __future__ import annotations

import asyncio

import pytest

from tests.registry.conftest import MakeRegistry, tool


async def test_silent_agents_turn_unhealthy_then_are_purged(make_registry: MakeRegistry) -> None:
    registry = await make_registry(AGENT_TIMEOUT="400ms", AGENT_RETENTION="1s", HEALTH_CHECK_INTERVAL="1h")
    monitor = registry.runtime.monitor
    await registry.register("silent-1", [tool("f", "svc")])
    await registry.register("chatty-1", [tool("g", "use", dependencies=[{"capability": "svc"}])])
    assert await registry.head("/heartbeat/chatty-1") == 200
    await asyncio.sleep(0.5)
    assert await registry.head("/heartbeat/chatty-1") == 200

    unhealthy, purged = await monitor.check()
    assert (unhealthy, purged) == (["silent-1"], [])
    assert await registry.head("/heartbeat/chatty-1") == 202, "consumers see the change"
    assert await registry.head("/heartbeat/silent-1") == 410, "a HEAD never revives"
    listed = {a["id"]: a for a in (await (await registry.client.get("/agents")).get_json())["agents"]}
    assert listed["silent-1"]["status"] == "unhealthy"
    assert listed["chatty-1"]["status"] == "healthy"
    assert listed["chatty-1"]["dependency_resolutions"][0]["status"] == "unavailable"
    events = await (await registry.client.get("/events?type=unhealthy")).get_json()
    assert [e["agent_id"] for e in events["events"]] == ["silent-1"]
    assert events["events"][0]["data"]["reason"] == "health_degradation"

    await asyncio.sleep(0.7)
    assert await registry.head("/heartbeat/chatty-1") == 202
    unhealthy, purged = await monitor.check()
    assert unhealthy == []
    assert purged == ["silent-1"]
    remaining = (await (await registry.client.get("/agents")).get_json())["agents"]
    assert [a["id"] for a in remaining] == ["chatty-1"]
    caps = await (await registry.client.get("/capabilities")).get_json()
    assert [c["name"] for c in caps["capabilities"]] == ["use"]


async def test_a_heartbeat_not_yet_written_is_not_silence(
    make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = await make_registry(AGENT_TIMEOUT="200ms", HEALTH_CHECK_INTERVAL="1h")
    await registry.register("agent-a", [tool("f", "svc")])
    await registry.register("agent-a", [tool("f", "svc")])
    await asyncio.sleep(0.3)
    await registry.register("agent-a", [tool("f", "svc")])  # unchanged: its time is in memory only

    async def batch_still_in_flight() -> None:  # the re-post landed after the monitor's own flush
        return None

    monkeypatch.setattr(registry.runtime.liveness, "flush", batch_still_in_flight)
    assert await registry.runtime.monitor.check() == ([], [])
    assert await registry.head("/heartbeat/agent-a") == 200


async def test_a_follower_does_not_run_the_monitor(make_registry: MakeRegistry) -> None:
    registry = await make_registry(AGENT_TIMEOUT="100ms", HEALTH_CHECK_INTERVAL="1h")
    await registry.register("silent-1", [tool("f", "svc")])
    await asyncio.sleep(0.2)
    registry.runtime.monitor.leadership = _Follower()
    assert await registry.runtime.monitor.check() == ([], [])
    assert await registry.head("/heartbeat/silent-1") == 200


async def test_old_events_are_trimmed(make_registry: MakeRegistry) -> None:
    registry = await make_registry(EVENT_MAX_ROWS="3", HEALTH_CHECK_INTERVAL="1h")
    for index in range(6):
        await registry.register(f"agent-{index}", [tool("f", "svc")])
    await registry.runtime.monitor.check()
    events = await (await registry.client.get("/events")).get_json()
    assert [e["agent_id"] for e in events["events"]] == ["agent-5", "agent-4", "agent-3"]


class _Follower:
    enabled = True
    is_leader = False
    transitions = 0
    acquisitions = 0
