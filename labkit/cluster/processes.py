"""Start, identify and stop the cluster's component processes by recorded process ids.

A pid file holds JSON ``{"pid": ..., "start_time": ..., "argv": [...]}``. The start time (field 22 of
``/proc/<pid>/stat``, in clock ticks since boot) tells a live component apart from an unrelated program
that reuses a dead component's pid after a crash, so ``down`` never signals a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """A process the cluster started: its pid and the start time that identifies it."""

    pid: int
    start_time: int | None
    argv: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "start_time": self.start_time, "argv": list(self.argv)})


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when no such (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_time = fields[0], int(fields[19])
    if state in ("Z", "X"):
        return None
    return start_time


# Children this Python process started, kept so they are reaped (not zombies) and never reported by
# Popen's destructor as "still running": components are meant to outlive the objects that started them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    """Collect the exit status of our own dead child so it does not linger as a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs (the same process, not a later one with its pid)."""
    _reap(record.pid)
    current = process_start_time(record.pid)
    if current is None:
        return False
    return record.start_time is None or current == record.start_time


def read_record(pid_file: Path) -> ProcessRecord | None:
    """The record in a pid file (JSON, or a bare pid), or None when the file is missing or unreadable."""
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(data, int):
        return ProcessRecord(pid=data, start_time=None)
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    start_time = data.get("start_time")
    argv = data.get("argv") or ()
    return ProcessRecord(
        pid=data["pid"],
        start_time=start_time if isinstance(start_time, int) else None,
        argv=tuple(str(arg) for arg in argv),
    )


def start_process(
    argv: Sequence[str], log_file: Path, pid_file: Path, env: Mapping[str, str] | None = None
) -> ProcessRecord:
    """Start ``argv`` in its own session (it outlives the caller), log to ``log_file``, record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[process.pid] = process
    record = ProcessRecord(pid=process.pid, start_time=process_start_time(process.pid), argv=tuple(argv))
    pid_file.write_text(record.to_json())
    return record


def stop_process(record: ProcessRecord, grace_seconds: float = 10.0) -> bool:
    """SIGTERM the recorded process, SIGKILL its process group after ``grace_seconds``.

    Returns whether a live process was found. A pid that now belongs to another program is left alone.
    """
    if not is_alive(record):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not is_alive(record):
            return True
        time.sleep(0.1)
    if is_alive(record):
        # The component leads its own session and process group (start_new_session), so this also
        # ends any helper it spawned in the same group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while is_alive(record) and time.monotonic() < deadline:
            time.sleep(0.05)
    return True
