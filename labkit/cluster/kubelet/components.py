"""The kubelet's and kube-proxy's configuration files and command lines for the node.

The kubelet authenticates callers as a real node does: client certificates signed by the cluster CA
and bearer tokens checked by the API server (TokenReview), every request authorised by the API server
(SubjectAccessReview), anonymous requests refused, no read-only port. So a local process cannot get a
shell in a pod by skipping the API server.
"""

from __future__ import annotations

import json
from pathlib import Path

from labkit.cluster.kubelet.layout import NodeLayout
from labkit.cluster.kubelet.network import NodeNetwork
from labkit.cluster.pki import Pki

KUBELET_PORT = 10250
CLUSTER_DOMAIN = "cluster.local"


def cgroup_root(network: NodeNetwork) -> str:
    """Each cluster's pods in their own cgroup tree, so two local clusters never share ``kubepods``."""
    return f"/labkit-node-{network.index}"


def kubelet_config(layout: NodeLayout, network: NodeNetwork, pki: Pki) -> dict[str, object]:
    """The KubeletConfiguration (kubelet.config.k8s.io/v1beta1)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": network.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(pki.ca_cert)},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "30s", "cacheUnauthorizedTTL": "5s"},
        },
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [network.dns_ip],
        "resolvConf": str(layout.resolv_conf),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root(network),
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        "failSwapOn": False,
        "podCIDR": network.pod_cidr,
        "hairpinMode": "hairpin-veth",
        "serializeImagePulls": False,
        "maxPods": 110,
        # A workshop machine's disk and memory are shared: neither evict pods nor delete the images
        # built here (they cannot be pulled again).
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "0%", "imagefs.available": "0%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "containerLogMaxSize": "10Mi",
        "runtimeRequestTimeout": "2m",
        "streamingConnectionIdleTimeout": "30m",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
    }


def write_kubelet_files(layout: NodeLayout, network: NodeNetwork, pki: Pki) -> None:
    layout.kubelet_root.mkdir(parents=True, exist_ok=True)
    layout.pod_logs.mkdir(parents=True, exist_ok=True)
    (layout.pod_logs / "containers").mkdir(parents=True, exist_ok=True)
    # Pods with dnsPolicy Default get this: no upstream server, since nothing outside the machine answers.
    layout.resolv_conf.write_text("options ndots:1\n")
    layout.kubelet_config.write_text(json.dumps(kubelet_config(layout, network, pki), indent=2))


def kubelet_env(layout: NodeLayout) -> dict[str, str]:
    """Variables this build of the kubelet reads: its log folders (see the builder's source patches)."""
    return {
        "LABKIT_KUBELET_POD_LOGS_DIR": str(layout.pod_logs / "pods"),
        "LABKIT_KUBELET_CONTAINER_LOGS_DIR": str(layout.pod_logs / "containers"),
    }


def kubelet_command(
    binary: Path, layout: NodeLayout, network: NodeNetwork, kubeconfig: Path, node_name: str
) -> list[str]:
    return [
        str(binary),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        "--container-runtime=remote",
        f"--container-runtime-endpoint=unix://{layout.containerd_socket}",
        f"--node-ip={network.node_ip}",
        f"--hostname-override={node_name}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.kubelet_root / 'pki'}",
        "--v=1",
    ]


def kube_proxy_config(network: NodeNetwork, kubeconfig: Path) -> dict[str, object]:
    """KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1): iptables inside the node namespace.

    ``masqueradeAll``: a pod reaching a Service backed by a pod on the same bridge gets its reply back
    through the node (no br_netfilter needed). The conntrack limits are the machine's, left alone.
    """
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": network.pod_cidr,
        "bindAddress": network.node_ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "iptables": {"masqueradeAll": True, "syncPeriod": "30s", "minSyncPeriod": "0s"},
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "hostnameOverride": "",
    }


def write_kube_proxy_files(layout: NodeLayout, network: NodeNetwork, kubeconfig: Path) -> None:
    layout.kube_proxy_config.write_text(json.dumps(kube_proxy_config(network, kubeconfig), indent=2))


def kube_proxy_command(binary: Path, layout: NodeLayout, node_name: str) -> list[str]:
    return [str(binary), f"--config={layout.kube_proxy_config}", f"--hostname-override={node_name}", "--v=1"]
