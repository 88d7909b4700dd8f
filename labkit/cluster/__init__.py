"""The local cluster: a real Kubernetes v1.20.2 control plane on loopback plus labkit's node agent,
or (``LocalCluster(node="kubelet")``, ``LABKIT_NODE=kubelet``) a real kubelet node: see
``labkit.cluster.kubelet``; what follows describes the node agent.

``LocalCluster(state_dir=None, bin_dir=None).up()`` starts etcd, kube-apiserver, kube-controller-manager
and kube-scheduler on 127.0.0.1 (free ports), then the node agent, and writes a kubeconfig (context
``labkit``) into the state dir. Binaries come from ``bin_dir``/``LABKIT_BIN_DIR``, ``PATH`` or labkit's
cache, built there once when missing (``labkit.cluster.binaries``).

Findings that shape the node agent (checked against the built apiserver):

(a) Upstream validation rejects loopback addresses in Endpoints ("may not be in the loopback range
    (127.0.0.0/8)", ``validateNonSpecialIP``). This local build carries one documented source patch
    (``labkit.cluster.builder.kubernetes.PATCHES``) that accepts loopback *endpoint* addresses, so the
    Endpoints controller lists pods by their loopback pod IPs. Pod IPs themselves were never restricted.
(b) ``--service-cluster-ip-range`` may be a loopback range: each cluster gets its own block
    (``labkit.cluster.addresses``; ``127.96.0.0/16`` for the default state dir, another ``127.(96+k)``
    block for other state dirs), so every ClusterIP is a loopback address the node agent binds a
    Service's proxy to directly, and two local clusters on one machine never collide.
(c) With ``--advertise-address=127.0.0.1`` the ``kubernetes`` Service (ClusterIP ``127.(96+k).0.1``,
    port 443) has the endpoint ``127.0.0.1:<apiserver port>`` (possible thanks to (a)); the apiserver's
    certificate names that ClusterIP, ``kubernetes.default.svc`` and friends.

Node agent contract: ``up`` runs ``[sys.executable, "-m", "labkit.cluster.node", "--kubeconfig",
<state>/kubeconfigs/node.kubeconfig, "--state-dir", <state>/node, "--node-name", "labkit-node"]`` in its
own session, output to ``<state>/logs/node.log``, and passes in the environment ``LABKIT_CLUSTER_STATE_DIR``,
``LABKIT_CLUSTER_CA`` (CA certificate), ``LABKIT_NODE_SERVING_CERT``/``LABKIT_NODE_SERVING_KEY`` (a
serving certificate for 127.0.0.1/localhost/labkit-node signed by the CA, for the kubelet port that
``kubectl logs`` reaches; the apiserver presents a client certificate in ``system:masters`` and does not
verify the node's certificate), ``LABKIT_SERVICE_CIDR``, ``LABKIT_POD_CIDR`` (this cluster's pod block,
``127.(244-k).0.0/16``; the agent may use it or its own claims) and ``LABKIT_APISERVER``. Its kubeconfig is
admin-equivalent (``system:node:labkit-node`` in ``system:nodes`` and ``system:masters``). ``up`` waits for
Node ``labkit-node`` to be Ready. ``down`` sends SIGTERM and waits 30 s before SIGKILL of its process
group; afterwards it also stops any process recorded under ``<state>/node/**/*.pid`` as JSON
``{"pid": ..., "start_time": ...}`` (``labkit.cluster.processes.ProcessRecord``), so pods the agent left
behind never outlive ``down``. ServiceAccount tokens are v1.20's default: a token Secret per account,
mounted by the ServiceAccount admission plugin as a ``secret`` volume. PVCs of the default StorageClass
``standard`` (WaitForFirstConsumer) are provisioned by the controller-manager's built-in host-path
provisioner as PVs with ``hostPath`` directories under ``/tmp/hostpath_pv/``, deleted with their claim.
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
