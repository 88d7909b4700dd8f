"""labkit's node agent: plays the kubelet for the local cluster and runs pods as local processes.

How the pieces fit (one module, one job):

- ``agent``: the process entry point; registers the Node, keeps its Lease and heartbeat fresh, watches the
  pods bound to it and runs one :class:`~labkit.cluster.node.pod_worker.PodWorker` thread per pod.
- ``pod_worker``: one pod's lifecycle: volumes, env, containers, probes, restarts, status, deletion.
- ``envvars`` (env and ``$(VAR)`` expansion), ``volumes``, ``images`` (image → local command),
  ``probes``, ``backoff``, ``container`` (a supervised process with its log file), ``sandbox`` (the
  per-container mount + UTS namespace), ``addresses`` (loopback pod IPs), ``services`` (Service proxies
  and the pods' ``/etc/hosts``), ``logserver`` (``kubectl logs`` over HTTPS), ``events``, ``node``.

Command line (started by ``LocalCluster.up``)::

    python -m labkit.cluster.node --kubeconfig K --state-dir D --node-name labkit-node
        [--host-ip 127.0.0.1] [--kubelet-port 0] [--backoff-base 10] [--log-level info]

Environment read: ``LABKIT_NODE_SERVING_CERT``/``_KEY`` (serving certificate of the log endpoint; a
self-signed one otherwise), ``LABKIT_CLUSTER_CA`` (client certificates must be signed by it),
``LABKIT_NODE_BACKOFF_BASE`` (first crash back-off, the kubelet's 10 s by default),
``LABKIT_NODE_ISOLATE=0`` (no namespaces). SIGTERM stops every container (grace capped at 10 s), then exits 0.

Local-cluster conventions other parts rely on:

- Each pod gets its own loopback address (``status.podIP``) from a /24 of ``127.244.0.0/16`` that the
  agent claims machine-wide (``flock`` on ``/tmp/labkit-node-subnets/N.lock``), so several local clusters
  on one machine do not collide. Pod IPs are reachable from the host. Processes are expected to bind that
  address: the ``mcp-mesh/registry`` image gets ``REGISTRY_HOST`` = pod IP, ``postgres`` listens on it.
  A process that binds 0.0.0.0 shares the port space with every other pod.
- As root, every container runs in its own mount and UTS namespace: volumes are bind-mounted at their
  ``mountPath``, the service-account files at ``/var/run/secrets/kubernetes.io/serviceaccount`` (so the
  Python client's in-cluster config works unchanged and a pod has exactly its ServiceAccount's RBAC
  rights), a per-pod ``/etc/hosts`` resolves Services by ``name`` (same namespace), ``name.namespace``,
  ``name.namespace.svc[.cluster.local]`` and headless pods by ``pod.service...``; the hostname is the
  pod name. Missing mount points are created as empty directories on the host. Without root
  (or ``LABKIT_NODE_ISOLATE=0``) mounts are not honoured; ``KUBERNETES_SERVICE_ACCOUNT_DIR`` then names
  the token directory.
- ``KUBERNETES_SERVICE_HOST``/``PORT`` point at the API server itself (127.0.0.1:<port>); service-link
  variables (``<SVC>_SERVICE_HOST``, ``<SVC>_PORT``...) are set as on a real node, pitfalls included
  (a Service named ``registry`` sets ``REGISTRY_PORT=tcp://...``).
- Service ports are served by a userspace TCP proxy bound to the ClusterIP (the control plane uses a
  loopback service range) that balances over the ready endpoints; no ready endpoint: connection closed.
- Images: ``mcp-mesh/registry`` → ``sys.executable -m registry`` of this checkout; ``postgres`` → the
  machine's PostgreSQL (``postgres_entrypoint.sh``: initdb from ``POSTGRES_*``, runs as ``postgres``, its
  socket directory private to the pod); ``busybox``/``curlimages/curl`` → the host's tools; anything else
  ErrImagePull/ImagePullBackOff (ErrImageNeverPull with ``imagePullPolicy: Never``).
- Not supported (reported as a pod event and status, never a crash): hostNetwork/hostPID/hostIPC,
  privileged containers, ``postStart`` hooks, gRPC probes, volume types other than emptyDir, PVC
  (hostPath/local PVs), configMap, secret, projected, downwardAPI, hostPath. ``kubectl exec``,
  ``port-forward`` and ``logs --timestamps`` are not served; resource limits are not enforced. A
  restarted agent restarts the containers of pods that were still running (finished pods stay finished).
"""
