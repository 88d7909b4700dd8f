"""Resident memory of a process and its children, read from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _own_resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


def resident_bytes(pid: int) -> int:
    """VmRSS of ``pid`` plus that of all its descendants (a server may fork workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total += _own_resident_bytes(current)
        pending.extend(_children(current))
    return total
