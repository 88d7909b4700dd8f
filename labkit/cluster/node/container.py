"""One container instance as a supervised local process, with its output in a log file."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labkit.cluster.node import sandbox
from labkit.cluster.processes import ProcessRecord, process_start_time

SANDBOX_SCRIPT = str(Path(sandbox.__file__).resolve())


def now_rfc3339() -> str:
    """The current UTC time in the API's format (second precision, Z)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerProcess:
    """A started container: its pid, times and, once it ended, its exit code."""

    def __init__(self, spec: dict[str, Any], spec_path: Path, log_path: Path) -> None:
        self.spec_path = spec_path
        self.log_path = log_path
        self.error_file = spec_path.with_suffix(".error")
        spec = {**spec, "error_file": str(self.error_file)}
        self.error_file.unlink(missing_ok=True)
        sandbox.write_spec(str(spec_path), spec)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SANDBOX_SCRIPT, str(spec_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self.pid_file = spec_path.parent / (spec_path.name.split(".")[0] + ".pid")
        record = ProcessRecord(
            self.proc.pid, process_start_time(self.proc.pid), ("container", str(spec_path))
        )
        self.pid_file.write_text(record.to_json())
        self.started_at = now_rfc3339()
        self.started_monotonic = time.monotonic()
        self.finished_at: str | None = None
        self.exit_code: int | None = None
        self.killed_by_agent = False

    @property
    def pid(self) -> int:
        """The process id (also the process group id)."""
        return self.proc.pid

    def poll(self) -> int | None:
        """The exit code once the process ended (128+signal when killed by a signal), else None."""
        if self.exit_code is None:
            code = self.proc.poll()
            if code is not None:
                self.exit_code = 128 - code if code < 0 else code
                self.finished_at = now_rfc3339()
        return self.exit_code

    def start_error(self) -> str | None:
        """Why the command could not be started, when that is what happened."""
        try:
            return self.error_file.read_text()
        except OSError:
            return None

    def ran_for(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self.started_monotonic

    def stop(self, grace_seconds: float) -> int:
        """SIGTERM the process group, wait up to the grace period, then SIGKILL; return the exit code."""
        self.killed_by_agent = True
        if self.poll() is None:
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + max(0.0, grace_seconds)
            while time.monotonic() < deadline and self.poll() is None:
                time.sleep(0.05)
            if self.poll() is None:
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # stragglers the main process left behind
        self.pid_file.unlink(missing_ok=True)
        code = self.poll()
        return code if code is not None else 137

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)
