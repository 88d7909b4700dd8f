"""Progress bars: a widget in JupyterLab, a text bar in a terminal, and in an executed notebook one line.

Under papermill (``labkit run`` and the tests set ``LABKIT_PROGRESS=lines`` for the kernel) a bar that
redraws leaves one output per tick in the saved notebook, and a widget leaves its state; there a bar
is one line when it ends, for waits of two seconds or more.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.std import tqdm as text_tqdm

MODE_VARIABLE = "LABKIT_PROGRESS"
LINES = "lines"
QUIET_BELOW_S = 2.0


class LineBar:
    """The tqdm calls labkit makes, reduced to one line at the end: what, how long, the last state."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        disable: bool = False,
        leave: bool = True,
        **_: Any,
    ) -> None:
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self.n: float = 0
        self.postfix = ""
        self.started = time.monotonic()
        self.closed = False

    def __enter__(self) -> LineBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def refresh(self) -> None:
        """Nothing to redraw: the line is written at the end."""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        elapsed = time.monotonic() - self.started
        if self.disable or elapsed < QUIET_BELOW_S:
            return
        state = f": {self.postfix}" if self.postfix else ""
        print(f"… {self.desc} took {elapsed:.0f}s{state}", flush=True)


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A bar suited to where the code runs (same arguments as tqdm)."""
    if os.environ.get(MODE_VARIABLE) == LINES:
        return LineBar(*args, **kwargs)
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm(*args, **kwargs)
    return text_tqdm(*args, **kwargs)


@contextlib.contextmanager
def line_progress() -> Iterator[None]:
    """Kernels started inside (papermill's) draw one line per bar instead of redrawing it."""
    before = os.environ.get(MODE_VARIABLE)
    os.environ[MODE_VARIABLE] = LINES
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MODE_VARIABLE, None)
        else:
            os.environ[MODE_VARIABLE] = before


def write(message: str) -> None:
    """Print a line without breaking an active bar."""
    text_tqdm.write(message)
