"""Sample our registry with py-spy while a row runs, and summarise where its time goes.

py-spy (``pip install py-spy``) records collapsed stacks ("raw" format: one line per distinct stack,
frames joined by ``;``, then a sample count), only of threads holding the GIL (``--gil``): Python work,
not threads parked in a queue or in SQLite's C code. The summary lists the functions with the largest
self share and the registry's own functions with the largest inclusive share of those samples.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

PY_SPY_MISSING = "py-spy is not installed: `pip install py-spy` (the benchmark's --profile needs it)"


def py_spy_command() -> str | None:
    """py-spy from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


@contextlib.contextmanager
def sampled(pid: int, output: Path, rate: int = 200) -> Iterator[None]:
    """Record ``pid`` with py-spy into ``output`` (collapsed stacks) for the duration of the block."""
    py_spy = py_spy_command()
    if py_spy is None:
        raise RuntimeError(PY_SPY_MISSING)
    recorder = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--nolineno",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()


def shares(collapsed: Path) -> tuple[Counter[str], Counter[str], int]:
    """(self samples by frame, inclusive samples by frame, total busy samples) of a recording."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if "select (selectors.py" in frames[-1]:
            continue  # the event loop waiting for I/O: not work
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return own, inclusive, total


def summary(collapsed: Path, top: int = 12, package: str = "registry/") -> str:
    """A printable summary: the hottest frames by self time, and ``package``'s by inclusive time."""
    own, inclusive, total = shares(collapsed)
    if total == 0:
        return f"  {collapsed}: no busy samples"
    lines = [f"  {total} busy samples; self time:"]
    lines += [f"    {count / total:6.1%}  {frame}" for frame, count in own.most_common(top)]
    lines.append(f"  inclusive time in {package}:")
    ours = Counter({f: c for f, c in inclusive.items() if package in f and "__main__" not in f})
    lines += [f"    {count / total:6.1%}  {frame}" for frame, count in ours.most_common(top)]
    return "\n".join(lines)
