"""Process records: a recorded pid is only ever signalled while it is the very process that was started."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from labkit.cluster import PortInUse
from labkit.cluster.ports import free_ports, port_is_free, require_free
from labkit.cluster.processes import ProcessRecord, is_alive, read_record, start_process, stop_process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
IGNORES_SIGTERM = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    "time.sleep(60)",
]


def test_started_process_is_recorded_alive_and_stopped(tmp_path: Path) -> None:
    record = start_process(SLEEPER, tmp_path / "x.log", tmp_path / "x.pid")
    try:
        assert read_record(tmp_path / "x.pid") == record
        assert is_alive(record)
        assert stop_process(record, grace_seconds=5)
        assert not is_alive(record)
    finally:
        stop_process(record, grace_seconds=0)


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    record = start_process(IGNORES_SIGTERM, log, tmp_path / "stubborn.pid")
    try:
        for _ in range(100):
            if "ready" in log.read_text():
                break
            time.sleep(0.05)
        assert stop_process(record, grace_seconds=0.5)
        assert not is_alive(record)
    finally:
        stop_process(record, grace_seconds=0)


def test_a_reused_pid_is_not_our_process(tmp_path: Path) -> None:
    record = start_process(SLEEPER, tmp_path / "x.log", tmp_path / "x.pid")
    try:
        assert record.start_time is not None
        impostor = ProcessRecord(pid=record.pid, start_time=record.start_time + 1)
        assert not is_alive(impostor)
        assert not stop_process(impostor)
        assert is_alive(record), "a process whose start time differs must never be signalled"
    finally:
        stop_process(record, grace_seconds=0)


def test_unreadable_pid_files_mean_no_record(tmp_path: Path) -> None:
    assert read_record(tmp_path / "missing.pid") is None
    (tmp_path / "junk.pid").write_text("not json")
    assert read_record(tmp_path / "junk.pid") is None
    (tmp_path / "bare.pid").write_text("123")
    assert read_record(tmp_path / "bare.pid") == ProcessRecord(pid=123, start_time=None)


def test_port_in_use_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(PortInUse, match=rf"kube-apiserver port {port} on 127.0.0.1 is in use"):
            require_free(port, "kube-apiserver")
    with pytest.raises(PortInUse, match="not a valid TCP port"):
        require_free(70000, "kube-apiserver")


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(port_is_free(port) for port in ports)
