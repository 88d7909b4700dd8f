"""The local cluster: a real Kubernetes v1.20.2 control plane on loopback plus a real kubelet node
(containerd, runc, CNI plugins, kube-proxy) in a network namespace: see ``labkit.cluster.kubelet``.

``LocalCluster(state_dir=None, bin_dir=None).up()`` starts etcd, kube-apiserver, kube-controller-manager
and kube-scheduler on 127.0.0.1 (free ports), then the node, and writes a kubeconfig (context ``labkit``)
into the state dir. Binaries come from ``bin_dir``/``LABKIT_BIN_DIR``, ``PATH`` or labkit's cache, built
there once when missing (``labkit.cluster.binaries``); the node's kubelet, kube-proxy and kubectl always
from the cache, built from the same source.

Each cluster claims an address block ``k`` (``labkit.cluster.addresses``), so two local clusters on one
machine never collide; ``labkit.cluster.kubelet.network`` gives the node, pod and Service ranges of the
block. ``up`` waits for the node to be Ready; ``down`` stops every recorded process, the node's
containers included. ServiceAccount tokens are v1.20's default: a token Secret per account. PVCs of the
default StorageClass ``standard`` (WaitForFirstConsumer) are provisioned by the controller-manager's
built-in host-path provisioner as PVs with ``hostPath`` directories under ``/tmp/hostpath_pv/``.
"""

from labkit.cluster.errors import ClusterError, MissingPrerequisite, PortInUse
from labkit.cluster.local import LocalCluster
from labkit.cluster.status import ClusterInfo, ClusterStatus, ComponentStatus

__all__ = [
    "ClusterError",
    "ClusterInfo",
    "ClusterStatus",
    "ComponentStatus",
    "LocalCluster",
    "MissingPrerequisite",
    "PortInUse",
]
