"""Pooled PostgreSQL connections: pinged only after sitting idle, and a read run again on a dead one.

The database sits behind a loopback relay the test cuts and restores, which drops every open connection
the way a database restart does, while the machine's PostgreSQL stays up for the other tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from registry.storage import engine as engine_module
from registry.storage.engine import create_engine
from registry.storage.execution import UnitOfWorkRunner
from tests.tcp_proxy import TcpRelay

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]


def select_one(conn: Connection) -> int:
    return int(conn.execute(sa.text("SELECT 1")).scalar_one())


@pytest.fixture
async def units(relay: TcpRelay) -> AsyncIterator[UnitOfWorkRunner]:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{relay.port}/test", "postgresql")
    runner = UnitOfWorkRunner(engine, "postgresql")
    yield runner
    await runner.close()
    await engine.dispose()


@pytest.fixture
def pings(units: UnitOfWorkRunner, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ping the dialect sends, counted through its own ``do_ping``."""
    dialect = units.engine.sync_engine.dialect
    sent: list[Any] = []
    real_ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return bool(real_ping(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", counted)
    return sent


def restart_the_database(relay: TcpRelay) -> None:
    relay.stop()
    relay.start()


async def test_a_connection_in_steady_use_is_not_pinged(units: UnitOfWorkRunner, pings: list[Any]) -> None:
    for _ in range(20):
        assert await units.read(select_one) == 1
        assert await units.transaction(select_one) == 1

    assert pings == []


async def test_an_idle_connection_to_a_restarted_database_is_replaced_before_a_write_uses_it(
    units: UnitOfWorkRunner, pings: list[Any], relay: TcpRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.2)
    assert await units.transaction(select_one) == 1
    restart_the_database(relay)
    await asyncio.sleep(0.4)

    assert await units.transaction(select_one) == 1  # a write is never run twice: the ping saved it
    assert len(pings) == 1


async def test_a_read_on_a_connection_that_died_in_use_runs_again_on_a_fresh_one(
    units: UnitOfWorkRunner, pings: list[Any], relay: TcpRelay
) -> None:
    assert await units.read(select_one) == 1
    restart_the_database(relay)

    assert await units.read(select_one) == 1
    assert pings == []


async def test_a_write_on_a_connection_that_died_in_use_fails_once_and_is_not_run_again(
    units: UnitOfWorkRunner, relay: TcpRelay
) -> None:
    ran: list[int] = []

    def counted_write(conn: Connection) -> int:
        ran.append(1)
        return select_one(conn)

    assert await units.transaction(counted_write) == 1
    restart_the_database(relay)

    with pytest.raises(DBAPIError) as failure:
        await units.transaction(counted_write)
    assert failure.value.connection_invalidated
    assert await units.transaction(counted_write) == 1  # the pool was renewed: the next one is served
    assert len(ran) == 3
