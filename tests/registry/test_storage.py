"""Storage corners outside the shared API suite."""

from __future__ import annotations

import asyncio

from registry.app import create_app
from registry.config import load_settings
from registry.runtime import RegistryRuntime


async def test_in_memory_sqlite_serialises_concurrent_writers() -> None:
    runtime = RegistryRuntime(load_settings({"DATABASE_PATH": ":memory:"}))
    await runtime.start()
    try:
        client = create_app(runtime).test_client()
        bodies = [{"id": f"agent-{i}", "capabilities": ["test"], "endpoint": "http://a:1"} for i in range(30)]
        responses = await asyncio.gather(*(client.post("/agents", json=body) for body in bodies))
        assert {r.status_code for r in responses} == {200}
        listed = await (await client.get("/agents")).get_json()
        assert listed["count"] == 30
    finally:
        await runtime.stop()
