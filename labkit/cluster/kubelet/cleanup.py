"""Stop what the node's containerd started and undo what the kubelet mounted, by pid and by path.

After ``down`` no container, shim, mount or cgroup of this node is left: the containers' processes are
found in the node's own cgroup tree (never by name), the mounts below the node's state directory in
``/proc/self/mountinfo`` (so a wipe never follows a bind mount into a host-path volume).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
RUNTIME_CGROUP = "runtime"


def cgroup_dirs(root_name: str) -> list[Path]:
    """The node's cgroup folder in each mounted hierarchy (cgroup v1 controllers and v2)."""
    if (CGROUP_MOUNT / "cgroup.controllers").is_file():
        return [CGROUP_MOUNT / root_name.lstrip("/")]
    return [
        hierarchy / root_name.lstrip("/")
        for hierarchy in sorted(CGROUP_MOUNT.iterdir())
        if hierarchy.is_dir() and not hierarchy.is_symlink()
    ]


def create_cgroup_root(root_name: str) -> None:
    """Make the node's cgroup folders and its ``runtime`` child (the kubelet requires its cgroup root to
    exist; containerd and its shims live in ``runtime``, so ``down`` finds the shims by cgroup)."""
    for directory in cgroup_dirs(root_name):
        for folder in (directory, directory / RUNTIME_CGROUP):
            folder.mkdir(exist_ok=True)
            if directory.parent.name == "cpuset":
                for name in ("cpuset.cpus", "cpuset.mems"):
                    target = folder / name
                    if target.exists() and not target.read_text().strip():
                        target.write_text((folder.parent / name).read_text())


def move_to_runtime_cgroup(root_name: str, pid: int) -> None:
    """Put a process (containerd) into the node's ``runtime`` cgroup in every hierarchy."""
    for directory in cgroup_dirs(root_name):
        procs = directory / RUNTIME_CGROUP / "cgroup.procs"
        if procs.exists():
            with contextlib.suppress(OSError):
                procs.write_text(str(pid))


def cgroup_pids(root_name: str) -> set[int]:
    """Every process in the node's cgroup trees."""
    pids: set[int] = set()
    for directory in cgroup_dirs(root_name):
        if not directory.is_dir():
            continue
        for procs in directory.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
    return pids


def kill_cgroup_processes(root_name: str, timeout: float = 10.0, spare: frozenset[int] = frozenset()) -> int:
    """SIGKILL every process in the node's cgroups but ``spare`` until none is left; returns how many
    were signalled."""
    signalled: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = cgroup_pids(root_name) - spare
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                signalled.add(pid)
        time.sleep(0.1)
    return len(signalled)


def remove_cgroup_root(root_name: str) -> None:
    """Remove the node's (now empty) cgroup folders, deepest first."""
    for directory in cgroup_dirs(root_name):
        if not directory.is_dir():
            continue
        for child in sorted((path for path in directory.rglob("*") if path.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            directory.rmdir()


def _unescape(path: str) -> str:
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mounts_below(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    prefix = str(root.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(set(found), key=lambda path: len(path.parts), reverse=True)


def unmount_below(root: Path) -> None:
    """Lazily unmount everything mounted below ``root`` (pod volumes, network namespace files)."""
    for _ in range(3):
        points = mounts_below(root)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
