"""Poll until a condition holds, with a progress bar, and time out with what was seen last."""

from __future__ import annotations

import time
from collections.abc import Callable

from labkit.errors import BadParameter, WaitTimeout
from labkit.progress import progress_bar

Probe = Callable[[], tuple[bool, str]]


def check_timeout(timeout: object) -> float:
    """Validate a timeout parameter (positive seconds) and return it as a float."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise BadParameter(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def sleep(seconds: float, what: str, *, progress: bool = True) -> None:
    """Wait a fixed time with a progress bar saying what for (a silent pause looks like a hang)."""
    seconds = check_timeout(seconds)
    if not isinstance(what, str):
        raise BadParameter(f"sleep needs a string saying what it waits for, not {what!r}")
    deadline = time.monotonic() + seconds
    with progress_bar(total=round(seconds), desc=what, unit="s", disable=not progress, leave=False) as bar:
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(1.0, remaining))
            bar.n = min(round(seconds - max(remaining - 1.0, 0)), bar.total)
            bar.refresh()


def poll(
    probe: Probe,
    what: str,
    timeout: float,
    *,
    interval: float = 1.0,
    progress: bool = True,
    describe_failure: Callable[[], str] | None = None,
) -> str:
    """Call probe() until it reports done; return its last state text.

    probe returns (done, state). The bar shows the elapsed seconds and the state. On timeout a WaitTimeout
    names what was waited for, the last state and, when given, describe_failure()'s account (pods,
    events).
    """
    timeout = check_timeout(timeout)
    deadline = time.monotonic() + timeout
    state = "nothing seen yet"
    with progress_bar(total=round(timeout), desc=what, unit="s", disable=not progress, leave=False) as bar:
        started = time.monotonic()
        while True:
            done, state = probe()
            bar.set_postfix_str(state, refresh=False)
            bar.n = min(round(time.monotonic() - started), bar.total)
            bar.refresh()
            if done:
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(interval, remaining))
    detail = ""
    if describe_failure is not None:
        try:
            detail = describe_failure()
        except Exception as exc:  # the account is best effort; the timeout is the error
            detail = f"(could not read the cluster's state: {exc})"
    raise WaitTimeout(
        f"timed out after {timeout:g}s waiting for {what}; last state: {state}"
        + (f"; {detail}" if detail else "")
    )
