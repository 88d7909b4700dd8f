"""Where the compatibility tests' real MCP Mesh agents live, and waiting for conditions on them.

The agents run through ``labkit.agents.start_agent``, the launcher the lessons use too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

AGENTS_DIR = Path(__file__).resolve().parent / "agents"
T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    describe: Callable[[], str] = lambda: "",
    interval: float = 0.2,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the last state seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}. {describe()}")
        time.sleep(interval)
