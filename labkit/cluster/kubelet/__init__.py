"""The real node: Debian's containerd, runc and CNI plugins with a kubelet and kube-proxy built from the
same v1.20.2 source as the control plane, in a network namespace the cluster makes for the node.

Opt in with ``LocalCluster(node="kubelet")``, ``labkit cluster up --node kubelet`` or ``LABKIT_NODE=kubelet``.
"""
