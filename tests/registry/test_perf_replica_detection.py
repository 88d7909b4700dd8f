"""A registry on its own SQLite file must not take its own just-committed events for another writer's.

(It would turn off the single-writer shortcuts: unchanged re-posts, cached providers, the listing.)
"""

from __future__ import annotations

import pytest

from tests.registry.conftest import Harness, MakeRegistry, tool


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_an_unknown_event_during_own_writes_is_looked_at_again(registry: Harness) -> None:
    liveness, storage = registry.runtime.liveness, registry.runtime.storage
    await registry.register("agent-a", [tool("f", "a")])
    await liveness.sync()
    before = liveness.event_watermark
    unknown = await storage.record_event("register", "agent-z", 1.0, {})  # not noted as our own
    storage.units.writes_in_flight += 1  # as if our write had committed and not yet noted its event
    try:
        await liveness.sync()
        assert liveness.shared_database is False
        assert liveness.event_watermark == before, "the event is read again next time"
        await liveness.sync()  # still unknown a tick later: another process wrote it
        assert liveness.shared_database is True
        assert liveness.event_watermark == unknown
    finally:
        storage.units.writes_in_flight -= 1


async def test_a_second_process_is_still_noticed(make_registry: MakeRegistry) -> None:
    a = await make_registry()
    b = await make_registry()
    await b.register("agent-b", [tool("f", "b")])
    await a.runtime.liveness.sync()
    await a.runtime.liveness.sync()
    assert a.runtime.liveness.shared_database is True
