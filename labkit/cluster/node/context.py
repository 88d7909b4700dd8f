"""What every pod worker shares: the node's identity, the API, the event recorder and the address pool."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client import CoreV1Api

from labkit.cluster.node.addresses import AddressPool
from labkit.cluster.node.backoff import DEFAULT_BASE_SECONDS
from labkit.cluster.node.events import EventRecorder
from labkit.cluster.node.kube import ApiSource


def default_hosts(pod: Mapping[str, Any], pod_ip: str) -> str:
    """The kubelet-managed part of a pod's /etc/hosts."""
    meta, spec = pod["metadata"], pod["spec"]
    hostname = spec.get("hostname") or meta["name"]
    names = [hostname]
    if spec.get("subdomain"):
        names.insert(0, f"{hostname}.{spec['subdomain']}.{meta['namespace']}.svc.cluster.local")
    lines = [
        "# Kubernetes-managed hosts file (labkit node).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost",
        f"{pod_ip}\t{' '.join(names)}",
    ]
    for alias in spec.get("hostAliases") or []:
        lines.append(f"{alias['ip']}\t{' '.join(alias.get('hostnames') or [])}")
    return "\n".join(lines) + "\n"


@dataclass
class NodeContext:
    """The node-wide pieces a pod worker uses."""

    node_name: str
    host_ip: str
    state_dir: Path
    core: CoreV1Api
    source: ApiSource
    events: EventRecorder
    addresses: AddressPool
    isolate: bool
    backoff_base: float = DEFAULT_BASE_SECONDS
    node_allocatable: dict[str, str] = field(default_factory=dict)
    service_hosts: Callable[[str], str] = lambda namespace: ""
    sync_services: Callable[[], None] = lambda: None

    def pod_dir(self, uid: str) -> Path:
        """The pod's directory on the host (volumes, logs, hosts file, sandbox specs)."""
        return self.state_dir / "pods" / uid
