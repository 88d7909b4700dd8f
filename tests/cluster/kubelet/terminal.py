"""A command on a pseudo-terminal, typed into as a person types: ``kubectl exec -it ... -- sh``."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from types import TracebackType


class Terminal:
    """The command's process, what it has printed so far (``seen``), and a way to type into it."""

    def __init__(self, argv: list[str]) -> None:
        self.controller, terminal = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal)
        os.close(terminal)
        self.seen = b""

    def type(self, line: bytes) -> None:
        os.write(self.controller, line + b"\n")

    def read_until(self, marker: bytes, timeout: float = 30.0) -> None:
        """Read until ``marker`` shows up (fail after ``timeout`` s, with what was printed)."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.controller], [], [], 0.5)
            if ready:
                try:
                    self.seen += os.read(self.controller, 4096)
                except OSError:
                    break
        assert marker in self.seen, f"no {marker!r} in the terminal: {self.seen[-500:]!r}"

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.controller)
