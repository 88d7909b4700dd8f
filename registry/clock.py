"""Wall-clock time and the RFC 3339 form the wire uses.

A :class:`Clock` is handed to the parts that stamp rows and judge silence, so that a test can run
replicas whose clocks disagree, as real machines' do. No decision about the mesh's topology reads it.
"""

from __future__ import annotations

import math
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


_SECOND_TEXT_CACHE = 4096
_second_texts: dict[int, str] = {}


def rfc3339(seconds: float | None = None) -> str:
    """UTC RFC 3339 with microseconds, e.g. ``2026-11-24T06:43:27.231111Z``.

    The same text as ``datetime.fromtimestamp(seconds, UTC).isoformat()`` (microseconds rounded half to
    even), with each second's date and time formatted once: ``GET /agents`` writes one per agent.
    """
    moment = now() if seconds is None else seconds
    if moment < 0:
        return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="microseconds")[:-6] + "Z"
    fraction, whole = math.modf(moment)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    second = int(whole)
    text = _second_texts.get(second)
    if text is None:
        if len(_second_texts) >= _SECOND_TEXT_CACHE:
            _second_texts.clear()
        text = _second_texts[second] = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{micro:06d}Z"
