"""SQLite's one writer, committing the write units that queue up while it works in one transaction.

SQLite allows a single writer, so every write unit runs in one thread. Under load, units arrive faster
than one BEGIN/COMMIT each can finish; the thread then takes every unit waiting (up to ``BATCH_LIMIT``)
and runs them one after the other in one transaction: the same order and the same result as running
them alone, with one commit and one wake-up of the event loop for the lot. A unit that raises spoils
only its own attempt: the batch is rolled back and each of its units is run again alone, so each caller
gets exactly what its unit alone would have given.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

T = TypeVar("T")

BATCH_LIMIT = 64


async def through_to_the_end(future: asyncio.Future[T]) -> T:
    """Await work running in a thread; if the awaiting task is cancelled, still wait for the work to end.

    A thread cannot be cancelled: without this, a stopped task (the monitor, the sync, a shutdown)
    would leave a statement running, or a transaction committing, behind it.
    """
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


@dataclass
class _Unit:
    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    outcome: tuple[bool, Any] = field(default=(False, None))  # (failed, result or exception)


_STOP = object()


class SQLiteWriter:
    """One thread that runs write units on a SQLite engine, a transaction per batch of waiting units."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # transactions committed or attempted (for tests and diagnostics)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction; return its result after the commit (or raise its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Unit(work, future, loop))
        return await through_to_the_end(future)

    def close(self) -> None:
        """Finish the queued units and stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
                    self._thread.start()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH_LIMIT:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is _STOP:
                    stop = True
                    break
                batch.append(unit)
            self._run_batch(batch)
            self._settle(batch)
            if stop:
                return

    def _run_batch(self, batch: list[_Unit]) -> None:
        self.batches += 1
        try:
            with self.engine.begin() as conn:
                results = [unit.work(conn) for unit in batch]
        except Exception as exc:
            if len(batch) == 1:
                batch[0].outcome = (True, exc)
                return
            for unit in batch:  # the failure belongs to one unit: give each its own transaction
                self._run_batch([unit])
            return
        for unit, result in zip(batch, results, strict=True):
            unit.outcome = (False, result)

    @staticmethod
    def _settle(batch: list[_Unit]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Unit]] = {}
        for unit in batch:
            by_loop.setdefault(unit.loop, []).append(unit)
        for loop, units in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, units)


def _resolve(units: list[_Unit]) -> None:
    for unit in units:
        if unit.future.done():  # the caller was cancelled
            continue
        failed, value = unit.outcome
        if failed:
            unit.future.set_exception(value)
        else:
            unit.future.set_result(value)
