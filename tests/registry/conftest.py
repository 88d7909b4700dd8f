"""Registry test fixtures: a fresh database per test on SQLite, PostgreSQL and MariaDB, and a running app.

PostgreSQL and MariaDB get their own database ``registry_test_<random>``, dropped afterwards; they are
skipped with a reason where the service is absent (a failure under CI=true).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from registry.app import create_app
from registry.clock import SYSTEM_CLOCK, Clock
from registry.config import load_settings
from registry.runtime import RegistryRuntime
from tests.conftest import require_service
from tests.processes import free_port
from tests.tcp_proxy import TcpRelay

PG_HOST, PG_PORT = "127.0.0.1", 5432
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
async def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Environment variables pointing the registry at a fresh, empty database of each kind."""
    kind = request.param
    name = f"registry_test_{secrets.token_hex(6)}"
    if kind == "sqlite":
        yield {"DATABASE_TYPE": "sqlite", "DATABASE_PATH": str(tmp_path / "registry.db")}
        return
    if kind == "postgresql":
        require_service("PostgreSQL", PG_HOST, PG_PORT)
        import asyncpg

        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            yield {"DATABASE_URL": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"}
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        return
    require_service("MariaDB", MYSQL_HOST, MYSQL_PORT)
    import aiomysql

    admin_conn = await aiomysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
    )
    try:
        async with admin_conn.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{name}`")
        yield {"DATABASE_URL": f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"}
    finally:
        async with admin_conn.cursor() as cursor:
            await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin_conn.close()


@dataclass
class Harness:
    """A started registry runtime with a test client for its API app."""

    runtime: RegistryRuntime
    client: TestClientProtocol

    async def pause_background(self) -> None:
        """Stop the monitor's passes and the once-a-second sync, so counted statements are a request's."""
        await self.runtime.monitor.stop()
        await self.runtime.liveness.stop()

    async def head(self, path: str) -> int:
        response = await self.client.open(path, method="HEAD")
        return response.status_code

    async def register(self, agent_id: str, tools: list[dict[str, Any]] | None = None, **fields: Any) -> Any:
        body = {"agent_id": agent_id, "tools": tools or [], **fields}
        response = await self.client.post("/heartbeat", json=body)
        assert response.status_code == 200, await response.get_data(as_text=True)
        return await response.get_json()


MakeRegistry = Callable[..., Awaitable[Harness]]


class Follower:
    """A leadership object for a replica that does not lead."""

    enabled = True
    is_leader = False
    transitions = 3
    acquisitions = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"enabled": True, "is_leader": False}


@pytest.fixture
async def make_registry(database_env: dict[str, str]) -> AsyncIterator[MakeRegistry]:
    """Start registries on the test's database (several share it, like replicas); stop them afterwards."""
    started: list[RegistryRuntime] = []

    async def make(clock: Clock = SYSTEM_CLOCK, **env: str) -> Harness:
        settings = load_settings({"LOG_LEVEL": "info", **database_env, **env})
        runtime = RegistryRuntime(settings, clock=clock)
        await runtime.start()
        started.append(runtime)
        return Harness(runtime, create_app(runtime).test_client())

    yield make
    for runtime in reversed(started):
        await runtime.stop()


@pytest.fixture
async def registry(make_registry: MakeRegistry) -> Harness:
    """One registry with default settings on a fresh database."""
    return await make_registry()


def tool(
    function_name: str, capability: str, version: str = "1.0.0", tags: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A tool object as real agents send it."""
    return {
        "function_name": function_name,
        "capability": capability,
        "version": version,
        "tags": tags or [],
        **extra,
    }


POSTGRES = ("127.0.0.1", 5432)


@pytest.fixture
def relay() -> Iterator[TcpRelay]:
    """A loopback relay in front of the machine's PostgreSQL, for a test to cut and restore."""
    require_service("PostgreSQL", *POSTGRES)
    relay = TcpRelay(POSTGRES, free_port())
    relay.start()
    yield relay
    relay.stop()
