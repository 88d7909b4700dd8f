"""``labkit jupyter`` as a person starts it, for tests: its URL, its lines, Ctrl-C at the end."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx

URL = re.compile(r"^(http://127\.0\.0\.1:\d+/lab\?token=\w+)$")
START_TIMEOUT = 300.0


def labkit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "labkit.cli", *args]


def cluster_environment(local_cluster: Any) -> dict[str, str]:
    """The environment in which labkit's default (local) cluster is the session's cluster."""
    env = {**os.environ}
    state = Path(local_cluster.state_dir).resolve()
    if state.parts[-2:] != ("labkit", "cluster"):
        raise AssertionError(f"the session's cluster state {state} is not <XDG_STATE_HOME>/labkit/cluster")
    env["XDG_STATE_HOME"] = str(state.parent.parent)
    return env


@dataclass
class JupyterRun:
    """A running ``labkit jupyter``: its process, URL, the lines it printed, and how long it took."""

    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    seconds_to_url: float = 0.0
    queue: Queue[str | None] = field(default_factory=Queue)

    @property
    def base(self) -> str:
        return self.url.split("/lab?")[0]

    def start_reading(self) -> None:
        """A thread moves stdout's lines into the queue, so no read blocks the test."""
        assert self.process.stdout is not None
        stream = self.process.stdout

        def pump() -> None:
            for line in stream:
                self.queue.put(line.rstrip("\n"))
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def read_until_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=min(remaining, 1.0))
            except Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            match = URL.match(line)
            if match:
                return match.group(1)
        raise AssertionError(f"labkit jupyter printed no URL within {timeout:g}s; it printed: {self.lines}")

    def drain(self, timeout: float = 5.0) -> None:
        """The lines printed until the process closed its output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.5)
            except Empty:
                continue
            if line is None:
                return
            self.lines.append(line)


@contextlib.contextmanager
def labkit_jupyter(env: dict[str, str], *args: str, sigint_ignored: bool = False) -> Iterator[JupyterRun]:
    """Start ``labkit jupyter ARGS``, yield it once it printed its URL, then Ctrl-C it; check it stopped.

    ``sigint_ignored`` starts it as a script's ``labkit jupyter &`` does: with SIGINT ignored.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        labkit_command("jupyter", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )
    run = JupyterRun(process)
    run.start_reading()
    try:
        run.url = run.read_until_url(START_TIMEOUT)
        run.seconds_to_url = time.monotonic() - started
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        run.drain()
    assert process.returncode == 0, run.lines
    assert "labkit jupyter: JupyterLab stopped" in run.lines, run.lines
    if run.url:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(run.base, timeout=2)
            raise AssertionError(f"JupyterLab still answers at {run.base} after Ctrl-C")
