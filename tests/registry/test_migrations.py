"""Schema versions: recorded at start, idempotent, and a database from a newer registry is refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.storage.migrations import LATEST_VERSION, SchemaTooNew, migrate
from registry.storage.schema import schema_version
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
