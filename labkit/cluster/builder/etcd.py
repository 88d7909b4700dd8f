"""etcd from Debian's ``etcd-server`` package (3.4.x works with Kubernetes v1.20), unpacked, not installed."""

from __future__ import annotations

import shutil
from pathlib import Path

from labkit.cluster.builder.apt import PrivateApt, extract_deb
from labkit.cluster.errors import ClusterError

ETCD_PACKAGE = "etcd-server"


def fetch_etcd(apt: PrivateApt, downloads: Path, destination: Path, log: Path) -> Path:
    """Download ``etcd-server``, unpack it with ``dpkg -x`` and copy its ``etcd`` into ``destination``."""
    deb = apt.download(ETCD_PACKAGE, downloads, log)
    unpacked = downloads / "etcd"
    if unpacked.exists():
        shutil.rmtree(unpacked)
    extract_deb(deb, unpacked, log)
    binary = unpacked / "usr" / "bin" / "etcd"
    if not binary.is_file():
        raise ClusterError(f"{ETCD_PACKAGE} did not contain usr/bin/etcd (unpacked in {unpacked})")
    destination.mkdir(parents=True, exist_ok=True)
    partial = destination / ".etcd.partial"
    shutil.copy2(binary, partial)
    return partial.replace(destination / "etcd")
