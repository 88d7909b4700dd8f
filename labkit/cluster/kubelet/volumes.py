"""Give the host-path provisioner's volumes kind's permissions: world-writable folders.

The controller-manager's built-in host-path provisioner (behind the StorageClass ``standard``) makes
each volume's folder ``0750 root``; kind's local-path provisioner makes it ``0777``, so a pod that runs as
a non-root user (the registry runs as 10001) can write its PVC. The node agent ran pods as root and never
met this; a real kubelet does. This watcher sets ``0777`` on this cluster's provisioned folders under
``/tmp/hostpath_pv/`` as they appear. Run as ``python -m labkit.cluster.kubelet.volumes KUBECONFIG``.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HOSTPATH_PV_ROOT = Path("/tmp/hostpath_pv")
PERIOD_SECONDS = 1.0


PROVISIONED_MODE = 0o750  # what the built-in provisioner's MkdirAll gives


def open_up(path: Path) -> bool:
    """Make a freshly provisioned folder (empty, still the provisioner's mode) world-writable, once;
    whether it changed anything. A folder a pod has used keeps what the pod made of it (PostgreSQL
    insists on 0700 for its data directory)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        empty = not any(path.iterdir())
    except FileNotFoundError:
        return False
    if mode != PROVISIONED_MODE or not empty:
        return False
    os.chmod(path, 0o777)
    return True


def provisioned_paths(volumes: Sequence[object]) -> list[Path]:
    """The host-path folders of PersistentVolumes made by the provisioner (below HOSTPATH_PV_ROOT)."""
    found = []
    for volume in volumes:
        host_path = getattr(getattr(volume, "spec", None), "host_path", None)
        path = Path(host_path.path) if host_path and host_path.path else None
        if path and path.parent == HOSTPATH_PV_ROOT:
            found.append(path)
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m labkit.cluster.kubelet.volumes KUBECONFIG", file=sys.stderr)
        return 2
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=argv[0]))
    while True:
        try:
            for path in provisioned_paths(api.list_persistent_volume(_request_timeout=10).items):
                if open_up(path):
                    print(f"labkit volumes: {path} is now 0777", flush=True)
            if (
                HOSTPATH_PV_ROOT.is_dir()
                and stat.S_IMODE(HOSTPATH_PV_ROOT.stat().st_mode) == PROVISIONED_MODE
            ):
                os.chmod(HOSTPATH_PV_ROOT, 0o755)  # pods reach their own folder below it
        except Exception as error:  # the API restarting: try again next period
            print(f"labkit volumes: {error}", file=sys.stderr, flush=True)
        time.sleep(PERIOD_SECONDS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
