"""How units of work run: PostgreSQL reads outside a transaction, writes inside one; a cancelled SQLite
unit waits for its thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry.storage.engine import create_engine
from registry.storage.execution import UnitOfWorkRunner
from tests.registry.conftest import Harness


def two_statements_share_a_transaction(conn: Connection) -> bool:
    """Whether two statements of one unit ran in the same PostgreSQL transaction (same transaction id)."""
    first = conn.execute(sa.text("SELECT txid_current()")).scalar()
    second = conn.execute(sa.text("SELECT txid_current()")).scalar()
    return bool(first == second)


@pytest.mark.parametrize("database_env", ["postgresql"], indirect=True)
async def test_postgresql_reads_skip_the_transaction_and_writes_keep_it(registry: Harness) -> None:
    units = registry.runtime.storage.units

    assert await units.read(two_statements_share_a_transaction) is False
    assert await units.transaction(two_statements_share_a_transaction) is True
    assert await units.read(two_statements_share_a_transaction) is False  # the pooled connection was reset


@pytest.mark.parametrize("unit", ["read", "transaction"])
async def test_a_cancelled_sqlite_unit_returns_only_once_its_statement_has_ended(
    tmp_path: Path, unit: str
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}", "sqlite")
    units = UnitOfWorkRunner(engine, "sqlite")
    started, release, ended = threading.Event(), threading.Event(), threading.Event()

    def slow_read(conn: Connection) -> int:
        started.set()
        release.wait(10)
        value = int(conn.execute(sa.text("SELECT 1")).scalar_one())
        ended.set()
        return value

    try:
        task = asyncio.create_task(getattr(units, unit)(slow_read))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.2)
        assert not task.done(), "the task ended while its statement was still to run in the reader thread"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert ended.is_set()
    finally:
        release.set()
        await units.close()
        await engine.dispose()
