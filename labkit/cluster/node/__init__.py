"""labkit's node agent: plays the kubelet for the local cluster and runs pods as local processes.

How the pieces fit (one module, one job):

- ``agent``: the process entry point; registers the Node, keeps its Lease and heartbeat fresh, watches the
  pods bound to it and runs one :class:`~labkit.cluster.node.pod_worker.PodWorker` thread per pod.
- ``pod_worker``: one pod's lifecycle: volumes, env, containers, probes, restarts, status, deletion.
- ``envvars`` (env and ``$(VAR)`` expansion), ``volumes``, ``images`` (image → local command),
  ``probes``, ``backoff``, ``container`` (a supervised process with its log file), ``sandbox`` (the
  per-container mount + UTS namespace), ``addresses`` (loopback pod IPs), ``services`` (Service proxies
  and the pods' ``/etc/hosts``), ``logserver`` (``kubectl logs`` over HTTPS), ``events``.

Local-cluster conventions other parts rely on:

- Each pod gets its own loopback address from ``127.244.0.0/16`` (``status.podIP``), reachable from the
  host. Processes are expected to bind that address: the ``mcp-mesh/registry`` image gets
  ``REGISTRY_HOST`` = pod IP, ``postgres`` listens on the pod IP.
- As root, every container runs in its own mount and UTS namespace (``unshare``): volumes are bind-mounted
  at their ``mountPath``, the service-account token at ``/var/run/secrets/kubernetes.io/serviceaccount``
  (so the Python client's in-cluster config works unchanged), a per-pod ``/etc/hosts`` that resolves
  Services by ``name``, ``name.namespace`` and ``name.namespace.svc.cluster.local``, and the hostname is
  the pod name. Missing mount points are created as empty directories on the host.
- ``KUBERNETES_SERVICE_HOST``/``PORT`` point at the API server itself (127.0.0.1); the token directory is
  also given as ``KUBERNETES_SERVICE_ACCOUNT_DIR``.
- Service ports are proxied by a userspace TCP proxy bound to the ClusterIP (when it is a loopback
  address) over the ready endpoints.
"""
