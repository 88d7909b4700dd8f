"""Where the real node keeps its files: everything under ``<cluster state>/kubelet-node``.

The containerd socket is a Unix socket, whose path the kernel limits to 107 bytes, so a state
directory deeper than that is refused with a message rather than failing inside containerd.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.errors import ClusterError

SOCKET_PATH_LIMIT = 107


@dataclass(frozen=True)
class NodeLayout:
    """Paths of the node's state, all below ``root``."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_config_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy-config.yaml"

    @property
    def resolv_conf(self) -> Path:
        """The node's resolv.conf for pods with ``dnsPolicy: Default``: no upstream server on purpose."""
        return self.root / "resolv.conf"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    def check(self) -> None:
        if len(str(self.containerd_socket)) > SOCKET_PATH_LIMIT:
            raise ClusterError(
                f"the cluster state directory is too deep for containerd's socket ({self.containerd_socket}"
                f" is over {SOCKET_PATH_LIMIT} bytes): choose a shorter state directory"
            )
