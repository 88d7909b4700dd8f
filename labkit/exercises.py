"""Exercises: the check cell of an exercise says "not done yet" instead of failing the lesson.

An attendee who runs every cell without doing the exercise reads one line with the hint and the lesson
goes on; with ``required`` (the test suite runs the solutions) a failing check fails the lesson.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from labkit.checks import failures_told_by_caller
from labkit.errors import BadParameter, LabError
from labkit.records import record

NOT_DONE, DONE = "○", "★"


def record_name(name: str) -> str:
    """``exercise_<slug>``: the record an exercise's outcome is kept under."""
    return "exercise_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@contextlib.contextmanager
def exercise(name: str, required: bool = False) -> Iterator[None]:
    """Run an exercise's checks (``lk.check`` lines) and say whether it is done.

    A failing check (or a missing object) prints ``○ exercise not done yet: name — hint`` and the lesson
    goes on, unless required, when it raises as any check does. The outcome is recorded either way.
    """
    if not isinstance(name, str) or not name:
        raise BadParameter(f"exercise needs a name, not {name!r}")
    token = failures_told_by_caller.set(not required)
    try:
        yield
    except LabError as exc:
        if required:
            raise
        print(f"{NOT_DONE} exercise not done yet: {name} — {exc}")
        record(record_name(name), {"done": False, "hint": str(exc)})
        return
    finally:
        failures_told_by_caller.reset(token)
    print(f"{DONE} exercise done: {name}")
    record(record_name(name), {"done": True})
