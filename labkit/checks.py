"""Lesson checks: one line with a mark per check, and deliberate failures caught and shown."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from typing import Any

from labkit.errors import BadParameter, CheckFailed

PASS, FAIL = "✓", "✗"
# Inside an exercise a failed check is the exercise's "not done yet" line, not a ✗ of its own.
failures_told_by_caller: contextvars.ContextVar[bool] = contextvars.ContextVar("failures_told", default=False)


def check(condition: object, what: str, hint: str = "") -> None:
    """Print ``✓ what`` when condition is truthy; else print ``✗ what — hint`` and raise CheckFailed."""
    if not isinstance(what, str):
        raise BadParameter(f"what must be a string describing the check, not {what!r}")
    if condition:
        print(f"{PASS} {what}")
        return
    line = f"{what} — {hint}" if hint else what
    if not failures_told_by_caller.get():
        print(f"{FAIL} {line}")
    raise CheckFailed(line)


def expect_failure(
    fn: Callable[..., Any], *args: Any, match: str | None = None, **kwargs: Any
) -> BaseException:
    """Run fn(*args, **kwargs), which should fail; show and return the error it raised.

    For pitfall demonstrations: papermill fails a run on any error output, so a deliberate error must be
    caught. Raises CheckFailed when fn succeeds, or when match (a regex) is not found in the error.
    """
    if not callable(fn):
        raise BadParameter(f"expect_failure needs a function to call, not {fn!r}")
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        if match is not None and not re.search(match, str(exc)):
            print(f"{FAIL} {name} failed, but not as expected: {message}")
            raise CheckFailed(f"{name} failed with {message!r}, which does not match {match!r}") from exc
        print(f"{PASS} {name} failed as expected — {message}")
        return exc
    print(f"{FAIL} {name} was expected to fail, but returned {result!r}")
    raise CheckFailed(f"{name} was expected to fail, but returned {result!r}")


def show(command: str) -> None:
    """Print the equivalent shell command for the reader (it is not run)."""
    if not isinstance(command, str):
        raise BadParameter(f"show needs the command as a string, not {command!r}")
    print(f"$ {command}")
