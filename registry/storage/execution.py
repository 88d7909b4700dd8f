"""How the registry's units of work run: on which engine, in which threads, and retried when.

A unit of work is a plain synchronous function of one SQLAlchemy ``Connection``. On PostgreSQL and MySQL
it runs inside the async engine (``run_sync``). On a SQLite file it runs in worker threads on the stdlib
driver, one thread hop per unit instead of one per statement, with every write in one thread, since
SQLite allows a single writer (``SQLiteWriter``, which commits the units waiting for it together); only
SQLite gets those threads.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from registry.storage.engine import sqlite_sync_engine
from registry.storage.sqlite_writer import SQLiteWriter, through_to_the_end

T = TypeVar("T")

# MySQL deadlock / lock wait timeout; PostgreSQL serialization failure / deadlock; a duplicate key from a
# concurrent insert of the same agent (then the retry takes the update path).
_RETRY_CODES = {"1213", "1205", "40001", "40P01", "1062", "23505"}
SQLITE_READERS = 4


def retryable(exc: DBAPIError) -> bool:
    """Whether the database aborted this writer only because another one won a conflict."""
    original = exc.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code is None and original is not None and getattr(original, "args", None):
        code = original.args[0]
    text = str(exc).lower()
    return str(code) in _RETRY_CODES or "deadlock" in text or "unique constraint failed: agents" in text


class UnitOfWorkRunner:
    """Runs read-only units and write transactions on the registry's database."""

    def __init__(self, engine: AsyncEngine, database_type: str) -> None:
        self.engine = engine
        self.sync_engine = sqlite_sync_engine(engine) if database_type == "sqlite" else None
        self._writer: SQLiteWriter | None = None
        self._readers: ThreadPoolExecutor | None = None
        if self.sync_engine is not None:
            self._writer = SQLiteWriter(self.sync_engine)
            self._readers = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="sqlite-reader")
        # SQLite without a file (``:memory:``) runs on the async engine's single connection: one at a time.
        self._memory_lock = asyncio.Lock() if database_type == "sqlite" and self.sync_engine is None else None
        self.writes_in_flight = 0
        # PostgreSQL's default READ COMMITTED gives each statement its own snapshot even inside a
        # transaction, so reads lose nothing outside one, and skip a BEGIN and a ROLLBACK round trip.
        # MySQL's REPEATABLE READ does give a unit one snapshot: its reads keep their transaction.
        autocommit = database_type == "postgresql"
        self._read_engine = engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine

    @property
    def statement_engine(self) -> sa.Engine:
        """The synchronous engine whose events see every statement (for diagnostics and tests)."""
        return self.sync_engine if self.sync_engine is not None else self.engine.sync_engine

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run a read-only unit of work."""
        if self._readers is not None:
            running = asyncio.get_running_loop().run_in_executor(self._readers, self._sync_read, work)
            return await through_to_the_end(running)
        if self._memory_lock is not None:
            async with self._memory_lock, self.engine.connect() as conn:
                return await conn.run_sync(work)
        try:
            async with self._read_engine.connect() as conn:
                return await conn.run_sync(work)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The pooled connection had died (the database restarted): SQLAlchemy has invalidated the pool,
        # and a read is safe to run again, once, on a fresh connection.
        async with self._read_engine.connect() as conn:
            return await conn.run_sync(work)

    async def transaction(self, work: Callable[[Connection], T], attempts: int = 6) -> T:
        """Run work in one write transaction, retrying when the database reports a deadlock or conflict.

        MySQL/MariaDB (gap locks) and PostgreSQL (serialisation) may abort one of two concurrent writers;
        the loser is simply run again, so callers never see it. Returns after the commit.
        ``writes_in_flight`` counts the calls under way (a caller notes its own event right after).
        """
        self.writes_in_flight += 1
        try:
            return await self._transaction(work, attempts)
        finally:
            self.writes_in_flight -= 1

    async def _transaction(self, work: Callable[[Connection], T], attempts: int) -> T:
        for attempt in range(1, attempts + 1):
            try:
                if self._writer is not None:
                    return await self._writer.run(work)
                if self._memory_lock is not None:
                    async with self._memory_lock, self.engine.begin() as conn:
                        return await conn.run_sync(work)
                async with self.engine.begin() as conn:
                    return await conn.run_sync(work)
            except (OperationalError, IntegrityError) as exc:
                if attempt == attempts or not retryable(exc):
                    raise
                await asyncio.sleep(random.uniform(0.005, 0.03) * attempt)
        raise AssertionError("unreachable")

    def _sync_read(self, work: Callable[[Connection], T]) -> T:
        assert self.sync_engine is not None
        with self.sync_engine.connect() as conn:
            return work(conn)

    async def close(self) -> None:
        """Release the SQLite connections and worker threads."""
        if self._writer is not None:
            self._writer.close()
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        if self.sync_engine is not None:
            self.sync_engine.dispose()
