"""Probes: /health is static, /ready reports the database and the SQLite leader rule."""

from __future__ import annotations

import pytest

from registry.app import create_app
from registry.config import load_settings
from registry.runtime import RegistryRuntime
from tests.registry.conftest import Follower, Harness


async def test_ready_is_503_with_a_reason_when_the_database_is_unreachable() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    runtime = RegistryRuntime(settings)
    client = create_app(runtime).test_client()
    try:
        health = await client.get("/health")
        assert health.status_code == 200, "liveness never touches the database"
        ready = await client.get("/ready")
        assert ready.status_code == 503
        body = await ready.get_json()
        assert body["status"] == "not ready"
        assert body["reason"].startswith("database unreachable")
    finally:
        await runtime.engine.dispose()


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_ready_and_health(registry: Harness) -> None:
    ready = await registry.client.get("/ready")
    assert ready.status_code == 200
    assert (await ready.get_json())["status"] == "ready"
    health = await (await registry.client.get("/health")).get_json()
    assert health["status"] == "healthy"
    assert health["service"] == "mcp-mesh-registry"
    assert health["leader"] is True
    assert health["instance_id"] == registry.runtime.settings.instance_id


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_sqlite_follower_is_not_ready(database_env: dict[str, str]) -> None:
    settings = load_settings(
        {**database_env, "ENABLE_LEADER_ELECTION": "true", "REGISTRY_INSTANCE_ID": "r-1"}
    )
    runtime = RegistryRuntime(settings, leadership=Follower())
    await runtime.start()
    try:
        client = create_app(runtime).test_client()
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert "not the leader" in (await ready.get_json())["reason"]
        health = await (await client.get("/health")).get_json()
        assert (health["instance_id"], health["leader"]) == ("r-1", False)
    finally:
        await runtime.stop()
