"""The real node: Debian's containerd, runc and CNI plugins with a kubelet and kube-proxy built from the
same v1.20.2 source as the control plane, in a network namespace the cluster makes for the node.

It is the local cluster's only node (``LocalCluster().up()``, ``labkit cluster up``).

What the real components do not cover stays here, small and named for its job, each one process that
``down`` stops by pid:

- ``apirelay``: the API server listens on 127.0.0.1, which the node namespace cannot reach; the relay
  passes TLS bytes from the node link's machine end to it (authentication stays the API server's);
- ``dns``: the cluster DNS (CoreDNS is not packaged in Debian), on dnspython, fed from the API;
- ``labkit.cluster.images.registry``: a read-only image registry serving the images built here, the
  mirror of every registry (no registry is reachable from this machine);
- ``volumes``: the host-path provisioner's folders get kind's 0777, so non-root pods can write PVCs.

Everything else is the real thing: ``network`` (namespace, veth, routes), ``containerd`` and
``components`` (configuration and command lines), ``cleanup`` (containers by cgroup, mounts, network on
``down``), ``tools`` (the Debian packages, unpacked into labkit's cache) and ``node`` (start and stop).
"""
