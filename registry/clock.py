"""Wall-clock time and the RFC 3339 form the wire uses."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds since the epoch."""
    return time.time()


def rfc3339(seconds: float | None = None) -> str:
    """UTC RFC 3339 with microseconds, e.g. ``2026-11-24T06:43:27.231111Z``."""
    moment = datetime.fromtimestamp(now() if seconds is None else seconds, tz=UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
