"""Run async work from synchronous code, also inside Jupyter where an event loop is already running."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run coro to completion and return its result.

    Without a running loop this is ``asyncio.run``; inside one (a Jupyter cell) the coroutine runs on a
    private loop in a worker thread, so the caller's loop is never re-entered.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-async") as pool:
        return pool.submit(asyncio.run, coro).result()
