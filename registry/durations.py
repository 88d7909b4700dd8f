"""Parse durations as the guide writes them: Go syntax (``500ms``, ``30s``, ``1m30s``) or plain seconds."""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PLAIN_SECONDS = re.compile(r"^\d+(\.\d+)?$")
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")

ALLOWED_DURATION = "a Go duration such as 500ms, 30s, 1m30s, 1h, or plain seconds such as 30"


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError for anything that is not a non-negative duration."""
    value = text.strip()
    if _PLAIN_SECONDS.match(value):
        return float(value)
    if value and _GO_DURATION.match(value):
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _GO_PART.findall(value))
    raise ValueError(f"not a duration: {text!r}")


def format_duration(seconds: float) -> str:
    """Render seconds back in Go style (``1m30s``, ``500ms``) for logs."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{int(hours)}h")
    if minutes:
        parts.append(f"{int(minutes)}m")
    if secs or not parts:
        parts.append(f"{secs:g}s")
    return "".join(parts)
