"""Unit tests: a container process started through the sandbox (exit codes, start errors, stop, mounts)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from labkit.cluster.node.container import ContainerProcess

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def start(tmp_path: Path, argv: list[str], **extra: Any) -> ContainerProcess:
    spec = {
        "argv": argv,
        "env": {"PATH": PATH, **extra.pop("env", {})},
        "workdir": str(tmp_path),
        "hostname": "pod-0",
        "isolate": False,
        "mounts": [],
        **extra,
    }
    return ContainerProcess(spec, tmp_path / "main.spec.json", tmp_path / "logs" / "1.log")


def wait_exit(process: ContainerProcess, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    raise AssertionError(f"container did not exit within {timeout}s")


def test_output_goes_to_the_log_and_the_exit_code_is_kept(tmp_path: Path) -> None:
    process = start(
        tmp_path, ["sh", "-c", "echo out; echo err >&2; echo $GREETING; pwd; exit 3"], env={"GREETING": "hi"}
    )
    assert process.pid_file.exists()
    assert wait_exit(process) == 3
    assert process.log_path.read_text().split() == ["out", "err", "hi", str(tmp_path)]
    assert process.start_error() is None
    assert process.finished_at is not None


def test_a_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    process = start(tmp_path, ["no-such-program-here"])
    assert wait_exit(process) == 128
    assert process.start_error() == 'exec: "no-such-program-here": executable file not found in $PATH'


def test_stop_sends_sigterm_then_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    polite = start(tmp_path, ["sleep", "60"])
    assert polite.stop(grace_seconds=5) == 143  # 128 + SIGTERM
    stubborn = start(tmp_path, ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"])
    deadline = time.monotonic() + 10
    while "ready" not in stubborn.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    assert stubborn.stop(grace_seconds=0.5) == 137  # 128 + SIGKILL
    assert time.monotonic() - started >= 0.5
    assert not stubborn.pid_file.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")
def test_isolation_mounts_volumes_privately_and_sets_the_hostname(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "data.txt").write_text("from the volume")
    target = tmp_path / "mnt" / "data"
    process = start(
        tmp_path,
        ["sh", "-c", f"cat {target}/data.txt; echo; hostname; touch {target}/written"],
        isolate=True,
        mounts=[{"source": str(volume), "target": str(target), "readonly": False}],
    )
    assert wait_exit(process) == 0
    assert process.log_path.read_text().split("\n")[:2] == ["from the volume", "pod-0"]
    assert (volume / "written").exists()  # writes land in the volume
    assert list(target.iterdir()) == []  # the host sees only the empty mount point
    assert os.uname().nodename != "pod-0"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing the user needs root")
def test_run_as_user_and_groups(tmp_path: Path) -> None:
    process = start(tmp_path, ["sh", "-c", "id -u; id -G"], uid=4321, gid=4322, groups=[4323])
    assert wait_exit(process) == 0
    lines = process.log_path.read_text().split("\n")
    assert lines[0] == "4321"
    assert set(lines[1].split()) == {"4322", "4323"}
