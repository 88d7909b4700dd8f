"""The node agent against the real local cluster, driven with the real kubectl.

What issue 3 asks to be shown: a 3-replica StatefulSet of the registry becomes Running and Ready one pod
after another, PVCs bind, Endpoints list exactly the ready pods; kubectl get/describe/logs/scale/rollout
status/wait/delete work; a deleted pod comes back with its volume and data; RBAC is real for a pod's
in-cluster client; and failures show the status and events a real cluster shows.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.cluster.node.images import postgres_bin_dir

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
pytestmark = pytest.mark.timeout(300)


class Kubectl:
    """The real kubectl against the local cluster, checked: a failure raises with kubectl's output."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = str(kubeconfig)
        self.namespace = namespace

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        command = [KUBECTL, "--kubeconfig", self.kubeconfig, "-n", self.namespace, *args]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
            )
        return done.stdout if check else done.stdout + done.stderr

    def apply(self, manifest: str) -> str:
        return self("apply", "-f", "-", stdin=manifest)

    def json(self, *args: str) -> Any:
        return json.loads(self("get", *args, "-o", "json"))

    def events(self, name: str) -> list[dict[str, Any]]:
        items = self.json("events", "--field-selector", f"involvedObject.name={name}")["items"]
        return list(items)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll until ``probe()`` is truthy; fail naming what was awaited and what was last seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == kind), None)


def is_ready(pod: dict[str, Any]) -> bool:
    ready = condition(pod, "Ready")
    return bool(ready and ready["status"] == "True")


def container_state(kubectl: Kubectl, pod: str) -> dict[str, Any]:
    statuses = kubectl.json("pod", pod).get("status", {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def kubectl(local_cluster: Any) -> Iterator[Kubectl]:
    """kubectl bound to a fresh namespace of this module; the namespace is deleted afterwards."""
    namespace = f"node-test-{int(time.time()) % 100000}"
    ctl = Kubectl(local_cluster.kubeconfig_path, namespace)
    ctl("create", "namespace", namespace)
    wait_for(
        "the namespace's default ServiceAccount token",
        lambda: ctl.json("serviceaccount", "default").get("secrets"),
        60,
    )
    yield ctl
    ctl("delete", "namespace", namespace, "--wait=false", check=False)


REGISTRY_STATEFULSET = """
apiVersion: v1
kind: ConfigMap
metadata: {name: registry-config}
data: {DATABASE_TYPE: sqlite, DATABASE_PATH: /data/registry.db, REGISTRY_PORT: "8000", METRICS_PORT: "9090",
       ENABLE_LEADER_ELECTION: "false", LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: registry-secret}
stringData: {AUTH_TOKEN: test-token}
---
apiVersion: v1
kind: Service
metadata: {name: registry-headless}
spec:
  clusterIP: None
  selector: {app: registry}
  ports: [{name: http, port: 8000, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: registry}
spec:
  selector: {app: registry}
  ports: [{name: http, port: 8000, targetPort: 8000, protocol: TCP}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: registry}
spec:
  serviceName: registry-headless
  replicas: 3
  podManagementPolicy: OrderedReady
  selector: {matchLabels: {app: registry}}
  template:
    metadata: {labels: {app: registry}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: registry
        image: mcp-mesh/registry:test
        imagePullPolicy: IfNotPresent
        ports:
        - {name: http, containerPort: 8000, protocol: TCP}
        - {name: metrics, containerPort: 9090, protocol: TCP}
        envFrom:
        - configMapRef: {name: registry-config}
        - secretRef: {name: registry-secret}
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - {name: REGISTRY_INSTANCE_ID, value: "$(POD_NAME)"}
        livenessProbe:
          httpGet: {path: /health, port: http}
          initialDelaySeconds: 2
          periodSeconds: 5
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


def ready_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    return [p for p in kubectl.json("pods", "-l", "app=registry")["items"] if is_ready(p)]


def endpoint_ips(kubectl: Kubectl, service: str) -> set[str]:
    subsets = kubectl.json("endpoints", service).get("subsets") or []
    return {a["ip"] for s in subsets for a in s.get("addresses") or []}


def test_statefulset_of_three_registry_pods(kubectl: Kubectl, record_property: Any) -> None:
    started = time.monotonic()
    kubectl.apply(REGISTRY_STATEFULSET)
    kubectl("rollout", "status", "statefulset/registry", "--timeout=150s", timeout=160)
    seconds = time.monotonic() - started
    record_property("apply_to_three_ready_seconds", round(seconds, 1))
    print(f"kubectl apply → 3 Ready registry pods: {seconds:.1f}s")

    pods = {p["metadata"]["name"]: p for p in kubectl.json("pods", "-l", "app=registry")["items"]}
    assert sorted(pods) == ["registry-0", "registry-1", "registry-2"]
    assert all(p["status"]["phase"] == "Running" and is_ready(p) for p in pods.values())
    # OrderedReady: each pod was created only after its predecessor became Ready.
    for before, after in (("registry-0", "registry-1"), ("registry-1", "registry-2")):
        ready_at = condition(pods[before], "Ready")["lastTransitionTime"]  # type: ignore[index]
        assert pods[after]["metadata"]["creationTimestamp"] >= ready_at, (before, after)
    ips = {p["status"]["podIP"] for p in pods.values()}
    assert len(ips) == 3
    assert all(ip.startswith("127.") for ip in ips)
    claims = kubectl.json("pvc")["items"]
    assert {c["metadata"]["name"]: c["status"]["phase"] for c in claims} == {
        f"data-registry-{i}": "Bound" for i in range(3)
    }
    wait_for(
        "Endpoints of both Services to list the three ready pods",
        lambda: endpoint_ips(kubectl, "registry") == ips == endpoint_ips(kubectl, "registry-headless"),
        20,
    )

    # Every replica listens on port 8000 of its own address; env came from fieldRef and $(VAR).
    for name, pod in pods.items():
        health = http_json(f"http://{pod['status']['podIP']}:8000/health")
        assert health["instance_id"] == name
    # The Service's ClusterIP (a loopback address here) reaches a ready endpoint from the host.
    cluster_ip = kubectl.json("service", "registry")["spec"]["clusterIP"]
    assert http_json(f"http://{cluster_ip}:8000/health")["status"] == "healthy"

    logs = kubectl("logs", "registry-1")
    assert "registry-1" in logs
    describe = kubectl("describe", "pod", "registry-0")
    assert "Started container registry" in describe
    assert "Ready" in describe
    kubectl("wait", "--for=condition=Ready", "pod/registry-2", "--timeout=30s")
    assert "labkit-node" in kubectl("get", "pods", "-o", "wide")

    # Scale down: the highest ordinal goes away and leaves the Endpoints.
    kubectl("scale", "statefulset/registry", "--replicas=2")
    wait_for("registry-2 to be deleted", lambda: "registry-2" not in kubectl("get", "pods", "-o", "name"), 60)
    assert endpoint_ips(kubectl, "registry") == {
        pods["registry-0"]["status"]["podIP"],
        pods["registry-1"]["status"]["podIP"],
    }

    # A deleted pod comes back under the same name with the same volume and its data.
    first_ip = pods["registry-0"]["status"]["podIP"]
    http_json(
        f"http://{first_ip}:8000/agents",
        {"id": "kept-agent", "capabilities": ["x"], "endpoint": "http://127.0.0.1:1"},
    )
    old_uid = pods["registry-0"]["metadata"]["uid"]
    kubectl("delete", "pod", "registry-0", "--timeout=60s", timeout=70)
    wait_for(
        "registry-0 to come back Ready",
        lambda: any(
            p["metadata"]["name"] == "registry-0" and p["metadata"]["uid"] != old_uid
            for p in ready_pods(kubectl)
        ),
        90,
    )
    back = kubectl.json("pod", "registry-0")
    assert back["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "data-registry-0"
    agents = http_json(f"http://{back['status']['podIP']}:8000/agents")
    assert "kept-agent" in json.dumps(agents)


ENV_AND_VOLUMES_POD = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {COLOR: blue, greeting.txt: hello-file}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {PASSWORD: s3cret, token: abc, 9lives: x}
---
apiVersion: v1
kind: Pod
metadata: {name: env-check, labels: {app: env-check}}
spec:
  restartPolicy: Never
  initContainers:
  - name: prepare
    image: busybox:1.36
    command: [sh, -c, "echo prepared > /scratch/init.txt"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c"]
    args:
    - >-
      echo "name=$(MY_NAME) ns=$MY_NS ip=$MY_IP node=$MY_NODE sa=$MY_SA";
      echo "color=$CFG_COLOR password=$PASSWORD token=$TOKEN url=$URL"; echo 'escaped=$$(MY_NAME)';
      echo "file=$(cat /etc/settings/greeting)"; echo "scratch=$(ls -d /scratch)";
      echo "init=$(cat /scratch/init.txt)";
      echo "hostname=$(hostname)";
      echo "sa-files=$(ls /var/run/secrets/kubernetes.io/serviceaccount | tr '\\n' ,)";
      echo "kube=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
    envFrom:
    - configMapRef: {name: settings}
      prefix: CFG_
    - secretRef: {name: creds}
    - secretRef: {name: missing-but-optional, optional: true}
    env:
    - name: MY_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: MY_NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: MY_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: MY_NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: MY_SA
      valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: creds, key: token}}
    - name: URL
      value: "http://$(MY_NAME).$(MY_NS):$(UNDEFINED)"
    volumeMounts:
    - {name: settings, mountPath: /etc/settings, readOnly: true}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - name: settings
    configMap:
      name: settings
      items: [{key: greeting.txt, path: greeting}]
  - name: scratch
    emptyDir: {}
"""


def test_env_volumes_and_service_account_files(kubectl: Kubectl) -> None:
    kubectl.apply(ENV_AND_VOLUMES_POD)
    wait_for(
        "env-check to succeed",
        lambda: kubectl.json("pod", "env-check")["status"].get("phase") == "Succeeded",
        60,
    )
    pod = kubectl.json("pod", "env-check")
    logs = kubectl("logs", "env-check")
    ns = kubectl.namespace
    assert f"name=env-check ns={ns} ip={pod['status']['podIP']} node=labkit-node sa=default" in logs
    assert "color=blue password=s3cret token=abc" in logs
    assert f"url=http://env-check.{ns}:$(UNDEFINED)" in logs
    assert "escaped=$(MY_NAME)" in logs
    assert "file=hello-file" in logs
    assert "scratch=/scratch" in logs
    assert "hostname=env-check" in logs
    assert "ca.crt,namespace,token," in logs
    assert "kube=127.0.0.1:" in logs
    assert "init=prepared" in logs
    init = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
    assert init["reason"] == "Completed"
    assert kubectl("logs", "-f", "env-check", timeout=30) == logs  # follow ends with the container
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 0
    assert state["reason"] == "Completed"
    reasons = [e["reason"] for e in kubectl.events("env-check")]
    assert "InvalidEnvironmentVariableNames" in reasons  # the Secret key "9lives"


LEASE_SCRIPT = """
import sys
from kubernetes import client, config
config.load_incluster_config()
api = client.CoordinationV1Api()
ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
body = {"metadata": {"name": "probe-lease"}, "spec": {"holderIdentity": "a"}}
try:
    api.create_namespaced_lease(ns, body)
    lease = api.read_namespaced_lease("probe-lease", ns)
    lease.spec.holder_identity = "b"
    api.replace_namespaced_lease("probe-lease", ns, lease)
    print("lease-result=created-and-updated")
except client.exceptions.ApiException as exc:
    print(f"lease-result={exc.status}")
"""


def lease_pod(name: str, service_account: str) -> str:
    command = json.dumps(["python", "-c", LEASE_SCRIPT])
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  serviceAccountName: {service_account}
  containers:
  - name: main
    image: mcp-mesh/registry:test
    command: {command}
"""


RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: with-role}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: without-role}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leases}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leases}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leases}
subjects: [{kind: ServiceAccount, name: with-role}]
"""


def test_rbac_is_real_for_a_pods_in_cluster_client(kubectl: Kubectl) -> None:
    kubectl.apply(RBAC)

    def has_token(account: str) -> bool:
        return bool(kubectl.json("serviceaccount", account).get("secrets"))

    def finished(pod: str) -> bool:
        return kubectl.json("pod", pod)["status"].get("phase") in ("Succeeded", "Failed")

    for account in ("with-role", "without-role"):
        wait_for(f"token Secret of {account}", functools.partial(has_token, account), 60)
    kubectl.apply(
        lease_pod("lease-allowed", "with-role") + "---\n" + lease_pod("lease-denied", "without-role")
    )
    for name in ("lease-allowed", "lease-denied"):
        wait_for(f"{name} to finish", functools.partial(finished, name), 60)
    assert "lease-result=created-and-updated" in kubectl("logs", "lease-allowed")
    assert "lease-result=403" in kubectl("logs", "lease-denied")
    assert kubectl.json("lease", "probe-lease")["spec"]["holderIdentity"] == "b"


FAILING_PODS = """
apiVersion: v1
kind: Pod
metadata: {name: unknown-image}
spec:
  containers: [{name: main, image: "example.invalid/nothing-here:1.0"}]
---
apiVersion: v1
kind: Pod
metadata: {name: never-pull}
spec:
  containers: [{name: main, image: "example.invalid/nothing-here:1.0", imagePullPolicy: Never}]
---
apiVersion: v1
kind: Pod
metadata: {name: exits-one}
spec:
  containers: [{name: main, image: busybox, command: [sh, -c, "echo failing; exit 1"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad-liveness}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo instance-started; exec sleep 600"]
    livenessProbe:
      tcpSocket: {port: 9}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {name: host-network}
spec:
  hostNetwork: true
  containers: [{name: main, image: busybox, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: init-fails}
spec:
  restartPolicy: Never
  initContainers: [{name: init, image: busybox, command: [sh, -c, "exit 3"]}]
  containers: [{name: main, image: busybox, command: [sh, -c, "echo must-not-run"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: nfs-volume}
spec:
  containers: [{name: main, image: busybox, command: [sleep, "600"]}]
  volumes: [{name: shared, nfs: {server: 127.0.0.1, path: /exports}}]
---
apiVersion: v1
kind: Pod
metadata: {name: missing-config}
spec:
  containers:
  - name: main
    image: busybox
    command: [sleep, "600"]
    volumeMounts: [{name: cfg, mountPath: /etc/cfg}]
  volumes: [{name: cfg, configMap: {name: absent}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: no-such-class}
spec:
  storageClassName: does-not-exist
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""


def waiting_reason(kubectl: Kubectl, pod: str) -> str | None:
    return container_state(kubectl, pod).get("state", {}).get("waiting", {}).get("reason")


def test_failures_look_like_a_real_cluster(kubectl: Kubectl) -> None:
    kubectl.apply(FAILING_PODS)

    wait_for(
        "unknown-image in ImagePullBackOff",
        lambda: waiting_reason(kubectl, "unknown-image") == "ImagePullBackOff",
        30,
    )
    messages = " ".join(e["message"] for e in kubectl.events("unknown-image"))
    assert 'Failed to pull image "example.invalid/nothing-here:1.0"' in messages
    assert "Error: ErrImagePull" in messages

    wait_for(
        "never-pull in ErrImageNeverPull",
        lambda: waiting_reason(kubectl, "never-pull") == "ErrImageNeverPull",
        30,
    )

    wait_for(
        "exits-one in CrashLoopBackOff",
        lambda: waiting_reason(kubectl, "exits-one") == "CrashLoopBackOff",
        40,
    )
    status = container_state(kubectl, "exits-one")
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert kubectl.json("pod", "exits-one")["status"]["phase"] == "Running"
    assert "Back-off restarting failed container" in " ".join(
        e["message"] for e in kubectl.events("exits-one")
    )
    assert "failing" in kubectl("logs", "exits-one", "-p")

    wait_for(
        "bad-liveness restarted by its liveness probe",
        lambda: container_state(kubectl, "bad-liveness").get("restartCount", 0) >= 1,
        40,
    )
    events = kubectl.events("bad-liveness")
    assert any(
        e["reason"] == "Unhealthy" and e["message"].startswith("Liveness probe failed") for e in events
    )
    assert any(e["reason"] == "Killing" and "failed liveness probe" in e["message"] for e in events)
    assert "instance-started" in kubectl("logs", "bad-liveness", "--previous")

    wait_for(
        "host-network to be reported unsupported",
        lambda: "hostNetwork" in str(kubectl.json("pod", "host-network")["status"].get("message")),
        30,
    )
    assert kubectl.json("pod", "host-network")["status"]["phase"] == "Pending"
    wait_for(
        "init-fails to fail", lambda: kubectl.json("pod", "init-fails")["status"].get("phase") == "Failed", 30
    )
    assert "Init:Error" in kubectl("get", "pod", "init-fails", "--no-headers")
    main = kubectl.json("pod", "init-fails")["status"]["containerStatuses"][0]
    assert main["state"]["waiting"]["reason"] == "PodInitializing"
    wait_for(
        "an event naming the unsupported nfs volume",
        lambda: any("volume 'shared' of type nfs" in e["message"] for e in kubectl.events("nfs-volume")),
        30,
    )

    wait_for(
        "a FailedMount event for the missing ConfigMap",
        lambda: any(
            e["reason"] == "FailedMount" and 'volume "cfg" : configmap "absent" not found' in e["message"]
            for e in kubectl.events("missing-config")
        ),
        30,
    )
    assert waiting_reason(kubectl, "missing-config") == "ContainerCreating"

    claim = kubectl.json("pvc", "no-such-class")
    assert claim["status"]["phase"] == "Pending"
    wait_for(
        "a ProvisioningFailed event for the missing StorageClass",
        lambda: any('"does-not-exist" not found' in e["message"] for e in kubectl.events("no-such-class")),
        30,
    )

    # Deleting a pod terminates its processes and removes the object (grace period honoured, then gone).
    kubectl("delete", "pod", "bad-liveness", "exits-one", "--timeout=60s", timeout=70)
    names = kubectl("get", "pods", "-o", "name")
    assert "bad-liveness" not in names
    assert "exits-one" not in names


POSTGRES_AND_REGISTRY = """
apiVersion: v1
kind: Secret
metadata: {name: postgres-secret}
stringData: {POSTGRES_USER: mcpmesh, POSTGRES_PASSWORD: changeme, POSTGRES_DB: registry}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: postgres-pvc}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: postgres}
spec:
  replicas: 1
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers:
      - name: postgres
        image: postgres:15-alpine
        envFrom: [{secretRef: {name: postgres-secret}}]
        ports: [{containerPort: 5432, protocol: TCP}]
        readinessProbe:
          exec: {command: [pg_isready, -U, mcpmesh, -d, registry]}
          periodSeconds: 1
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: postgres-pvc}}]
---
apiVersion: v1
kind: Service
metadata: {name: postgres}
spec:
  selector: {app: postgres}
  ports: [{port: 5432, targetPort: 5432, protocol: TCP}]
"""

REGISTRY_ON_POSTGRES = """
apiVersion: v1
kind: Pod
metadata: {name: registry-on-postgres, labels: {app: registry-on-postgres}}
spec:
  # This namespace has a Service named "registry": its service-link variable REGISTRY_PORT=tcp://...
  # would override the registry's own setting, exactly as on a real cluster.
  enableServiceLinks: false
  containers:
  - name: registry
    image: mcp-mesh/registry:test
    env:
    - {name: DATABASE_TYPE, value: postgresql}
    - {name: DATABASE_HOST, value: postgres}
    - {name: DATABASE_PORT, value: "5432"}
    - {name: DATABASE_NAME, value: registry}
    - {name: DATABASE_USER, value: mcpmesh}
    - name: DATABASE_PASSWORD
      valueFrom: {secretKeyRef: {name: postgres-secret, key: POSTGRES_PASSWORD}}
    readinessProbe:
      httpGet: {path: /ready, port: 8000}
      periodSeconds: 1
"""


def curl_pod(name: str, urls: list[str]) -> str:
    script = "; ".join(f"echo {url}=$(curl -s -m 5 -o /dev/null -w '%{{http_code}}' {url})" for url in urls)
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - name: curl
    image: curlimages/curl:8.5.0
    command: [sh, -c, {json.dumps(script)}]
"""


def test_postgres_image_and_services_by_name(kubectl: Kubectl) -> None:
    if postgres_bin_dir() is None:
        pytest.skip("no PostgreSQL server installed (/usr/lib/postgresql/*/bin/postgres)")
    kubectl.apply(POSTGRES_AND_REGISTRY)
    kubectl("rollout", "status", "deployment/postgres", "--timeout=90s", timeout=100)
    kubectl.apply(REGISTRY_ON_POSTGRES)
    kubectl("wait", "--for=condition=Ready", "pod/registry-on-postgres", "--timeout=60s", timeout=70)
    assert "postgres:5432/registry" in kubectl("logs", "registry-on-postgres")
    kubectl("expose", "pod", "registry-on-postgres", "--name=registry-pg", "--port=8000", "--protocol=TCP")
    wait_for("Endpoints of registry-pg", lambda: endpoint_ips(kubectl, "registry-pg"), 20)
    ns = kubectl.namespace
    urls = [
        "http://registry-pg:8000/health",
        f"http://registry-pg.{ns}:8000/health",
        f"http://registry-pg.{ns}.svc.cluster.local:8000/health",
    ]
    kubectl.apply(curl_pod("curl-by-name", urls))
    wait_for(
        "curl-by-name to finish",
        lambda: kubectl.json("pod", "curl-by-name")["status"].get("phase") in ("Succeeded", "Failed"),
        60,
    )
    logs = kubectl("logs", "curl-by-name")
    for url in urls:
        assert f"{url}=200" in logs


def test_pre_stop_hook_then_sigterm_within_the_grace_period(kubectl: Kubectl, tmp_path: Path) -> None:
    marker_dir = tmp_path / "marker"
    marker_dir.mkdir()
    kubectl.apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: graceful}}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap 'echo got-term >> /marker/log; exit 0' TERM; while true; do sleep 0.2; done"]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo pre-stop >> /marker/log"]}}
    volumeMounts: [{{name: marker, mountPath: /marker}}]
  volumes: [{{name: marker, hostPath: {{path: {marker_dir}, type: Directory}}}}]
""")
    kubectl("wait", "--for=condition=Ready", "pod/graceful", "--timeout=60s", timeout=70)
    kubectl("delete", "pod", "graceful", "--timeout=60s", timeout=70)
    assert (marker_dir / "log").read_text().split() == ["pre-stop", "got-term"]
