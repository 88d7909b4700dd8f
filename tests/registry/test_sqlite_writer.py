"""The SQLite writer: units waiting together share a transaction, and one unit's failure is its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry.storage.sqlite_writer import SQLiteWriter


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}", connect_args={"check_same_thread": False})
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    return engine


def insert(key: int) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        conn.execute(sa.text("INSERT INTO t (k, v) VALUES (:k, 'x')"), {"k": key})
        return key

    return work


def stored(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [row.k for row in conn.execute(sa.text("SELECT k FROM t ORDER BY k"))]


async def test_units_queued_behind_a_busy_writer_commit_in_one_transaction(engine: sa.Engine) -> None:
    writer = SQLiteWriter(engine)
    release = threading.Event()

    def hold(conn: Connection) -> str:
        release.wait(10)  # the writer is busy while the others queue up behind it
        return "held"

    try:
        first = asyncio.ensure_future(writer.run(hold))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(writer.run(insert(k))) for k in range(20)]
        await asyncio.sleep(0.05)
        release.set()
        assert await first == "held"
        assert await asyncio.gather(*queued) == list(range(20))
        assert writer.batches == 2, "the 20 queued units should have shared one transaction"
        assert stored(engine) == list(range(20))
    finally:
        writer.close()


async def test_a_failing_unit_fails_alone_and_the_others_of_its_batch_commit(engine: sa.Engine) -> None:
    writer = SQLiteWriter(engine)
    release = threading.Event()
    try:
        blocker = asyncio.ensure_future(writer.run(lambda conn: release.wait(10)))
        await asyncio.sleep(0.05)
        units = [insert(1), insert(1), insert(2)]  # the second breaks the primary key
        futures = [asyncio.ensure_future(writer.run(unit)) for unit in units]
        await asyncio.sleep(0.05)
        release.set()
        await blocker
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        assert outcomes[0] == 1
        assert outcomes[2] == 2
        assert isinstance(outcomes[1], sa.exc.IntegrityError)
        assert stored(engine) == [1, 2], "the failed unit must leave nothing, the others everything"
    finally:
        writer.close()


async def test_many_overlapping_writers_each_get_their_own_result(engine: sa.Engine) -> None:
    writer = SQLiteWriter(engine)
    try:
        for trial in range(20):
            keys = range(trial * 100, trial * 100 + 50)
            results = await asyncio.gather(*(writer.run(insert(k)) for k in keys))
            assert results == list(keys)
        assert len(stored(engine)) == 20 * 50
    finally:
        writer.close()
