"""The Node object: registration with the machine's capacity, status heartbeat and the node Lease."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labkit.cluster.node.container import now_rfc3339

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
MAX_PODS = 110
KUBELET_VERSION = "v1.20.2"


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def machine_capacity(state_dir: Path) -> dict[str, str]:
    """cpu, memory, pods and ephemeral-storage of this machine, as Kubernetes quantities."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    disk = os.statvfs(state_dir)
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{pages // 1024}Ki",
        "pods": str(MAX_PODS),
        "ephemeral-storage": f"{disk.f_blocks * disk.f_frsize // 1024}Ki",
    }


def node_status(
    node_name: str, host_ip: str, kubelet_port: int, capacity: dict[str, str], since: str | None = None
) -> dict[str, Any]:
    """A Ready node's status with fresh heartbeat times (``since``: when the conditions last changed)."""
    now = now_rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since or now,
        }

    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition(
                "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"
            ),
            condition("Ready", "True", "KubeletReady", "labkit node agent is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": host_ip}, {"type": "Hostname", "address": node_name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": _read("/etc/machine-id", "labkit"),
            "systemUUID": _read("/sys/class/dmi/id/product_uuid", "labkit") or "labkit",
            "bootID": _read("/proc/sys/kernel/random/boot_id", "labkit"),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": "labkit://0.1.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": arch,
        },
    }


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_labels(node_name: str) -> dict[str, str]:
    """The well-known labels a kubelet sets."""
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": arch,
        "node.kubernetes.io/instance-type": "labkit-local",
    }


class NodeRegistration:
    """Creates/updates the Node and keeps its status and Lease fresh."""

    def __init__(
        self, api: client.ApiClient, node_name: str, host_ip: str, kubelet_port: int, state_dir: Path
    ):
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.name = node_name
        self.host_ip = host_ip
        self.kubelet_port = kubelet_port
        self.capacity = machine_capacity(state_dir)
        self.node_uid: str | None = None
        self.ready_since = now_rfc3339()

    def register(self) -> None:
        """Create the Node (or adopt an existing one), then post its status."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": node_labels(self.name),
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {},
        }
        try:
            node: Any = self.core.create_node(cast(Any, body))
        except ApiException as exc:
            if exc.status != 409:
                raise
            node = self.core.patch_node(
                self.name, {"metadata": {"labels": node_labels(self.name)}, "spec": {"unschedulable": False}}
            )
        self.node_uid = node.metadata.uid
        self.heartbeat()

    def heartbeat(self) -> None:
        """Post the node status (conditions with fresh heartbeat times)."""
        status = node_status(self.name, self.host_ip, self.kubelet_port, self.capacity, self.ready_since)
        self.core.patch_node_status(self.name, {"status": status})

    def renew_lease(self) -> None:
        """Create or renew the node's Lease in kube-node-lease."""
        now = dt.datetime.now(dt.UTC)
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        try:
            self.coordination.patch_namespaced_lease(self.name, LEASE_NAMESPACE, {"spec": spec})
        except ApiException as exc:
            if exc.status != 404:
                raise
            owner = (
                [{"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.node_uid}]
                if self.node_uid
                else []
            )
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE, "ownerReferences": owner},
                "spec": spec,
            }
            self.coordination.create_namespaced_lease(LEASE_NAMESPACE, cast(Any, body))
