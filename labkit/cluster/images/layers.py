"""Layer tars: a root file system folder, or a few files given in memory, owned by root."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One path in a layer: a directory, a file (``data`` or ``source``) or a symlink (``target``)."""

    path: str
    kind: str = "file"  # "file", "dir" or "symlink"
    data: bytes = b""
    source: Path | None = None
    target: str = ""
    mode: int = 0o644


def write_layer(entries: Iterable[Entry], output: Path) -> Path:
    """A layer tar of ``entries`` (root-owned, time 0)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mtime = 0
            info.mode = entry.mode
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                archive.addfile(info)
            else:
                data = entry.source.read_bytes() if entry.source is not None else entry.data
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return output


def write_rootfs_layer(rootfs: Path, output: Path) -> Path:
    """A layer tar of the folder ``rootfs`` with its modes and numeric owners kept."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as archive:
        for child in sorted(rootfs.iterdir()):
            archive.add(str(child), arcname=child.name, recursive=True)
    return output


BASE_FILES = (
    Entry("etc", "dir", mode=0o755),
    Entry(
        "etc/passwd",
        data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ),
    Entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
    Entry("root", "dir", mode=0o700),
    Entry("tmp", "dir", mode=0o1777),
    Entry("var", "dir", mode=0o755),
    Entry("proc", "dir", mode=0o555),
    Entry("sys", "dir", mode=0o555),
    Entry("dev", "dir", mode=0o755),
)
