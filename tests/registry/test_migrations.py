"""Schema versions: recorded at start, idempotent, and a database from a newer registry is refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.storage.migrations import LATEST_VERSION, SchemaTooNew, migrate
from registry.storage.schema import agents, event_sequence, registry_events, schema_version
from tests.registry.conftest import MakeRegistry


async def test_version_is_recorded_and_migration_is_idempotent(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    engine = registry.runtime.engine
    async with engine.connect() as conn:
        recorded = (await conn.execute(sa.select(schema_version.c.version))).scalars().all()
    assert recorded == [LATEST_VERSION]
    assert await migrate(engine) == (LATEST_VERSION, LATEST_VERSION)
    second = await make_registry()  # a second replica starting on the same database
    assert second.runtime.engine is not engine


async def test_a_newer_schema_is_refused(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    engine = registry.runtime.engine
    async with engine.begin() as conn:
        await conn.execute(sa.update(schema_version).values(version=LATEST_VERSION + 1))
    with pytest.raises(SchemaTooNew, match="newer registry image"):
        await migrate(engine)


async def test_a_version_1_database_gets_ordered_events(make_registry: MakeRegistry) -> None:
    """A v1 database (no event counter, no seen ids) upgrades: the counter starts at its newest event."""
    registry = await make_registry()
    await registry.register("agent-a")
    await registry.register("agent-b")
    engine = registry.runtime.engine
    await registry.runtime.stop()
    async with engine.begin() as conn:  # back to version 1's shape
        newest = (await conn.execute(sa.select(sa.func.max(registry_events.c.id)))).scalar()
        await conn.run_sync(lambda sync: event_sequence.drop(sync))
        await conn.execute(sa.text("ALTER TABLE agents DROP COLUMN seen_event_id"))
        await conn.execute(sa.update(schema_version).values(version=1))
    assert await migrate(engine) == (1, LATEST_VERSION)
    async with engine.connect() as conn:
        counter = (await conn.execute(sa.select(event_sequence.c.last_event_id))).scalars().all()
        seen = (await conn.execute(sa.select(agents.c.seen_event_id))).scalars().all()
    assert counter == [newest], "new ids continue after the newest event"
    assert seen == [0, 0], "each agent re-posts once after its HEAD says 202"
    upgraded = await make_registry()
    assert await upgraded.head("/heartbeat/agent-a") == 202
    await upgraded.register("agent-a")
    assert await upgraded.head("/heartbeat/agent-a") == 200


async def test_a_version_3_database_gets_content_digests(make_registry: MakeRegistry) -> None:
    """A v3 database (no fingerprints) upgrades; its agents are rewritten once, then confirmed."""
    registry = await make_registry()
    await registry.register("agent-a")
    engine = registry.runtime.engine
    await registry.runtime.stop()
    async with engine.begin() as conn:  # back to version 3's shape
        await conn.execute(sa.text("ALTER TABLE agents DROP COLUMN content_digest"))
        await conn.execute(sa.update(schema_version).values(version=3))
    assert await migrate(engine) == (3, LATEST_VERSION)
    async with engine.connect() as conn:
        digests = (await conn.execute(sa.select(agents.c.content_digest))).scalars().all()
    assert digests == [None]
    upgraded = await make_registry()
    await upgraded.register("agent-a")
    async with engine.connect() as conn:
        digests = (await conn.execute(sa.select(agents.c.content_digest))).scalars().all()
    assert len(digests) == 1
    assert len(digests[0] or "") == 32
