"""Wall-clock time and the RFC 3339 form the wire uses.

A :class:`Clock` is handed to the parts that stamp rows and judge silence, so that a test can run
replicas whose clocks disagree, as real machines' do. No decision about the mesh's topology reads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Clock:
    """Seconds since the epoch, ``offset`` seconds away from this machine's clock."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset


SYSTEM_CLOCK = Clock()


def now() -> float:
    """Seconds since the epoch, on this machine's clock."""
    return time.time()


def rfc3339(seconds: float | None = None) -> str:
    """UTC RFC 3339 with microseconds, e.g. ``2026-11-24T06:43:27.231111Z``."""
    moment = datetime.fromtimestamp(now() if seconds is None else seconds, tz=UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
