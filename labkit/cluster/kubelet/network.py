"""The node's network namespace, its link to the machine and the address ranges of one cluster.

The kubelet refuses a loopback node IP, and pods need addresses that are not the machine's own, so the
real node lives in a network namespace ``labkit-node-<k>`` (``k`` the cluster's address block, 0-63)
joined to the machine by one veth pair. The ranges come from 198.18.0.0/15, which RFC 2544 reserves for
network benchmark tests: it is never routed on the internet and is not one of the private ranges a
site's own network uses, so nothing here can shadow or reach a real network. Per block ``k``:

- pods ``198.18.(4k).0/23`` on the CNI bridge inside the node namespace (gateway ``.1``);
- the node link ``198.18.(4k+2).0/30``: the machine's end ``.1`` (where the API relay and the cluster
  DNS listen), the node's end ``.2`` (the node's InternalIP, where the kubelet serves);
- ClusterIPs ``198.19.(4k).0/22`` (kube-proxy's iptables rules inside the node namespace).

Nothing routes further: the node namespace has no default route, so a pod's packet to any other
address fails at once with "network unreachable", and the machine only routes the pod range to the node.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.errors import ClusterError

NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True)
class NodeNetwork:
    """Names and addresses of block ``index``'s node network."""

    index: int

    def _third(self, offset: int) -> int:
        return 4 * self.index + offset

    @property
    def namespace(self) -> str:
        return f"labkit-node-{self.index}"

    @property
    def namespace_path(self) -> Path:
        return NETNS_DIR / self.namespace

    @property
    def host_link(self) -> str:
        return f"lkn{self.index}-host"

    @property
    def node_link(self) -> str:
        return "eth0"

    @property
    def bridge(self) -> str:
        return "cni0"

    @property
    def host_ip(self) -> str:
        return f"198.18.{self._third(2)}.1"

    @property
    def node_ip(self) -> str:
        return f"198.18.{self._third(2)}.2"

    @property
    def link_prefix(self) -> int:
        return 30

    @property
    def pod_cidr(self) -> str:
        return f"198.18.{self._third(0)}.0/23"

    @property
    def pod_gateway(self) -> str:
        return f"198.18.{self._third(0)}.1"

    @property
    def service_cidr(self) -> str:
        return f"198.19.{self._third(0)}.0/22"

    @property
    def kubernetes_service_ip(self) -> str:
        return f"198.19.{self._third(0)}.1"

    @property
    def dns_ip(self) -> str:
        """The cluster DNS server's address: the machine's end of the node link."""
        return self.host_ip

    def contains(self, address: str) -> bool:
        """Whether ``address`` is one of this node's pod, link or Service addresses."""
        ip = ipaddress.ip_address(address)
        networks = [self.pod_cidr, self.service_cidr, f"{self.host_ip}/{self.link_prefix}"]
        return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def _ip(*args: str, namespace: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", namespace] if namespace else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result


def namespace_exists(network: NodeNetwork) -> bool:
    return network.namespace_path.exists()


def _write_sysctl(network: NodeNetwork, key: str, value: str) -> None:
    """Set a per-namespace sysctl inside the node namespace."""
    path = "/proc/sys/" + key.replace(".", "/")
    argv = in_namespace(network, ["sh", "-c", f"echo {value} > {path}"])
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"cannot set {key} in {network.namespace}: {result.stderr.strip()}")


def create_network(network: NodeNetwork) -> None:
    """Make the namespace, the veth pair, addresses and routes; what already exists is kept."""
    if not namespace_exists(network):
        _ip("netns", "add", network.namespace)
    _ip("link", "set", "lo", "up", namespace=network.namespace)
    if _ip("link", "show", network.host_link, check=False).returncode != 0:
        _ip(
            "link", "add", network.host_link, "type", "veth",
            "peer", "name", network.node_link, "netns", network.namespace,
        )  # fmt: skip
    prefix = network.link_prefix
    _ip("addr", "replace", f"{network.host_ip}/{prefix}", "dev", network.host_link)
    _ip("link", "set", network.host_link, "up")
    _ip(
        "addr",
        "replace",
        f"{network.node_ip}/{prefix}",
        "dev",
        network.node_link,
        namespace=network.namespace,
    )
    _ip("link", "set", network.node_link, "up", namespace=network.namespace)
    _ip("route", "replace", network.pod_cidr, "via", network.node_ip, "dev", network.host_link)
    _write_sysctl(network, "net.ipv4.ip_forward", "1")


def delete_network(network: NodeNetwork) -> None:
    """Remove the veth pair (both ends) and the namespace; a missing one is fine."""
    if _ip("link", "show", network.host_link, check=False).returncode == 0:
        _ip("link", "delete", network.host_link)
    if namespace_exists(network):
        _ip("netns", "delete", network.namespace)


def in_namespace(network: NodeNetwork, argv: list[str]) -> list[str]:
    """``argv`` run inside the node's network namespace, and only that one.

    ``nsenter`` execs the program (its pid is the program's) and, unlike ``ip netns exec``, keeps the
    machine's mounts: ``ip netns exec`` mounts a fresh /sys, which hides the cgroup mounts runc needs.
    """
    return ["nsenter", f"--net={network.namespace_path}", "--", *argv]
