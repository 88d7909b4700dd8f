"""The Lab against the real local cluster: apply, wait, port-forward, logs, events, scale, RBAC, leases.

One module-scoped registry StatefulSet (image mcp-mesh/registry runs this checkout's registry on the
local cluster's node) in a namespace of its own, removed at the end.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import labkit as lk
from tests.cluster_fixture import lab_in_own_namespace

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

NAMESPACE = f"labkit-test-{os.getpid()}"
SELECTOR = "app.kubernetes.io/name=labkit-test-registry"
LABELS = {"app.kubernetes.io/name": "labkit-test-registry"}

# Not named "registry": Kubernetes would inject REGISTRY_PORT=tcp://... (service links) into the pods,
# which the registry rightly rejects as its port setting.
SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: lab-registry
spec:
  selector:
    app.kubernetes.io/name: labkit-test-registry
  ports:
  - name: http
    port: 8000
    targetPort: http
"""


def registry_statefulset() -> dict[str, Any]:
    """A small registry StatefulSet; container ports without `protocol` on purpose (labkit fills it)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "registry", "labels": LABELS},
        "spec": {
            "serviceName": "lab-registry",
            "replicas": 1,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "containers": [
                        {
                            "name": "registry",
                            "image": "mcp-mesh/registry:latest",
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "env": [
                                {"name": "DATABASE_PATH", "value": "/data/registry.db"},
                                {"name": "LOG_LEVEL", "value": "info"},
                            ],
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "http"},
                                "periodSeconds": 1,
                            },
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def lab(local_cluster: Any) -> Iterator[lk.Lab]:
    """A Lab on the local cluster in a namespace of its own, deleted afterwards."""
    with lab_in_own_namespace(local_cluster, NAMESPACE) as lab:
        yield lab


@pytest.fixture(scope="module")
def registry(lab: lk.Lab, tmp_path_factory: pytest.TempPathFactory) -> lk.Lab:
    """The registry StatefulSet and its Service, applied and rolled out."""
    service_file = Path(tmp_path_factory.mktemp("manifests")) / "service.yaml"
    service_file.write_text(SERVICE_YAML)
    applied = lab.apply(
        [*lk.lab.manifests.load_objects(service_file), registry_statefulset()],
        images={"mcp-mesh/registry": "mcp-mesh/registry:dev"},
    )
    assert applied == ["service/lab-registry", "statefulset/registry"]
    lab.wait_rollout("statefulset/registry", timeout=120, progress=False)
    return lab


def test_connect_reports_the_local_cluster(lab: lk.Lab) -> None:
    assert lab.local
    assert lab.server_version == "v1.20.2"
    assert Path(lab.kubeconfig).is_file()
    assert lab.storage_classes().query("default")["name"].tolist() == ["standard"]


def test_apply_is_idempotent_and_rewrites_images(registry: lk.Lab) -> None:
    before = registry.get("statefulset/registry")
    assert before["spec"]["template"]["spec"]["containers"][0]["image"] == "mcp-mesh/registry:dev"
    assert before["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    registry.apply(registry_statefulset(), images={"mcp-mesh/registry": "mcp-mesh/registry:dev"})
    after = registry.get("sts/registry")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # no spec change


def test_pods_table_and_events_describe_the_rollout(registry: lk.Lab, local_cluster: Any) -> None:
    pods = registry.pods(SELECTOR)
    assert pods[["name", "phase", "ready", "containers", "restarts"]].values.tolist() == [
        ["registry-0", "Running", True, "1/1", 0]
    ]
    pod_range = ipaddress.ip_network(local_cluster.kubelet_node().network.pod_cidr)
    assert ipaddress.ip_address(pods["ip"].iloc[0]) in pod_range
    table = registry.table(selector=SELECTOR)
    assert set(table["kind"]) == {"statefulset", "pod", "persistentvolumeclaim"}
    assert table.set_index("kind").loc["persistentvolumeclaim", "status"] == "Bound"
    events = registry.events("pod/registry-0")
    assert {"Scheduled", "Started"} <= set(events["reason"])
    assert set(events["object"]) == {"pod/registry-0"}
    assert re.search(r"^Name:\s+registry-0$", registry.describe("pod/registry-0"), re.MULTILINE)


def test_port_forward_reaches_the_registry_through_the_service_and_the_pod(registry: lk.Lab) -> None:
    with registry.port_forward("svc/lab-registry", 8000) as url:
        reg = lk.RegistryClient(url)
        assert reg.health()["status"] == "healthy"
        assert reg.ready()
        result = lk.load_test(url, n=30, concurrency=10, progress=False)
        assert result.summary["success_rate"] == 1.0
        agents = lk.select_metric(lk.scrape_metrics(url), "mcp_registry_agents_total", status="healthy")
        assert agents["value"].sum() >= 30
    with registry.port_forward("pod/registry-0", "http") as url:
        assert len(lk.RegistryClient(url).agents()) >= 30
    assert "agent registered" in registry.logs("registry-0")


def test_scale_and_wait_for_a_selector(registry: lk.Lab) -> None:
    registry.scale("statefulset/registry", 2)
    registry.wait_for(SELECTOR, "Ready", timeout=90, progress=False)
    registry.wait_rollout("statefulset/registry", timeout=90, progress=False)
    assert registry.pods(SELECTOR)["name"].tolist() == ["registry-0", "registry-1"]
    registry.scale("statefulset/registry", 1)
    registry.wait_for("pod/registry-1", "delete", timeout=60, progress=False)
    # The controller counts the pod gone in its next status update, a moment after the pod is.
    registry.wait_for(
        "statefulset/registry", lambda s: s["status"].get("replicas") == 1, timeout=30, progress=False
    )
    assert registry.get("statefulset/registry")["status"].get("replicas") == 1


def test_deleting_a_statefulset_pod_waits_for_that_pod_not_its_namesake(registry: lk.Lab) -> None:
    before = registry.get("pod/registry-0")["metadata"]["uid"]
    registry.delete("pod/registry-0", wait=True, timeout=60)  # the controller recreates the name at once
    registry.wait_rollout("statefulset/registry", timeout=90, progress=False)
    assert registry.get("pod/registry-0")["metadata"]["uid"] != before


def test_a_timed_out_wait_says_what_it_waited_for_and_what_it_saw(lab: lk.Lab) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad-image"},
        "spec": {"containers": [{"name": "c", "image": "nonexistent/image:1"}]},
    }
    lab.apply(pod)
    with pytest.raises(lk.WaitTimeout) as error:
        lab.wait_for("pod/bad-image", timeout=6, progress=False)
    message = str(error.value)
    assert message.startswith("timed out after 6s waiting for pod/bad-image to be Ready; last state: ")
    assert "pod/bad-image Pending 0/1" in message
    assert "newest events:" in message
    with pytest.raises(lk.LabError, match=r"pod/bad-image is (ErrImagePull|ImagePullBackOff)"):
        lab.wait_for(
            "pod/bad-image", timeout=60, fail_on=("ErrImagePull", "ImagePullBackOff"), progress=False
        )
    lab.delete("pod/bad-image", grace_period=0)
    assert not lab.exists("pod/bad-image")


def test_can_i_follows_rbac_for_a_service_account(lab: lk.Lab) -> None:
    lab.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "elector"}})
    assert not lab.can_i("update", "leases", service_account="elector", group="coordination.k8s.io")
    rbac: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "elector"},
            "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "update"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "elector"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "elector"},
            "subjects": [{"kind": "ServiceAccount", "name": "elector", "namespace": NAMESPACE}],
        },
    ]
    lab.apply(rbac)
    deadline = time.monotonic() + 10  # the RBAC authorizer's cache catches up within moments
    while not lab.can_i("update", "leases.coordination.k8s.io", service_account="elector"):
        assert time.monotonic() < deadline, "the new Role did not take effect within 10s"
        time.sleep(0.2)
    assert not lab.can_i("delete", "leases.coordination.k8s.io", service_account="elector")
    assert lab.can_i("delete", "pods", service_account=None)


def test_the_guides_rbac_file_moves_into_the_labs_namespace(lab: lk.Lab) -> None:
    applied = lab.apply(lk.MANIFESTS / "namespace-rbac.yaml", namespace=NAMESPACE)
    assert applied[0] == f"namespace/{NAMESPACE}", "the file's Namespace object is renamed, not mcp-mesh"
    unmoved = {o["kind"]: o["metadata"] for o in lab.prepare(lk.MANIFESTS / "namespace-rbac.yaml")}
    assert unmoved["ServiceAccount"]["namespace"] == "mcp-mesh", "without namespace= the file's own one holds"
    binding = lab.get("rolebinding/mcp-mesh-registry-leader-election")
    assert [s["namespace"] for s in binding["subjects"]] == [NAMESPACE]
    deadline = time.monotonic() + 10
    while not lab.can_i("update", "leases.coordination.k8s.io", service_account="mcp-mesh-registry"):
        assert time.monotonic() < deadline, "the moved RoleBinding did not take effect within 10s"
        time.sleep(0.2)


def test_lease_holder(lab: lk.Lab) -> None:
    assert lab.lease_holder("no-such-lease") is None
    lab.apply(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "demo"},
            "spec": {"holderIdentity": "registry-0", "leaseDurationSeconds": 15},
        }
    )
    assert lab.lease_holder("demo") == "registry-0"
    assert lab.lease("demo")["leaseDurationSeconds"] == 15


def test_kubectl_runs_with_the_labs_context_and_fails_in_one_line(registry: lk.Lab) -> None:
    assert "registry-0" in registry.kubectl("get", "pods", "-o", "name")
    with pytest.raises(lk.KubectlFailed, match=r'kubectl get pod nope failed \(exit 1\): .*"nope" not found'):
        registry.kubectl("get", "pod", "nope")


def test_missing_things_get_one_clear_error(lab: lk.Lab, local_cluster: Any) -> None:
    elsewhere = lk.connect(local_cluster, namespace="labkit-no-such-namespace", progress=False)
    with pytest.raises(lk.NamespaceMissing, match="namespace 'labkit-no-such-namespace' does not exist"):
        elsewhere.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    with pytest.raises(lk.ObjectNotFound, match=f"statefulset/nope not found in namespace '{NAMESPACE}'"):
        lab.get("statefulset/nope")
    with pytest.raises(lk.ManifestError, match=r"apply configmap/typed was rejected: .*expected string"):
        lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": {"a": 1}})
    with pytest.raises(lk.BadParameter, match="unknown kind 'gizmo'"):
        lab.get("gizmo/x")
    with pytest.raises(lk.BadParameter, match="replicas must be int, not str"):
        lab.scale("statefulset/registry", "3")  # type: ignore[arg-type]


def test_doctor_passes_on_the_local_cluster(
    local_cluster: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labkit import cli

    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig_path))
    context = lk.connect(local_cluster, progress=False).context
    assert cli.main(["doctor", "--context", context, "--namespace", NAMESPACE]) == 0
    out = capsys.readouterr().out
    assert "✓ cluster reachable" in out
    assert "v1.20.2" in out
    assert "1/1 ready" in out
    assert "default: standard" in out
    assert "✗" not in out


def test_everything_works_inside_a_running_event_loop_as_in_jupyter(registry: lk.Lab) -> None:
    import asyncio

    async def cell() -> tuple[str, float]:
        registry.wait_for(SELECTOR, timeout=30, progress=False)
        with registry.port_forward("svc/lab-registry", "http") as url:
            health = lk.RegistryClient(url).health()["status"]
            rate = lk.load_test(url, n=10, concurrency=5, progress=False).summary["success_rate"]
        return health, rate

    assert asyncio.run(cell()) == ("healthy", 1.0)


def test_port_forward_to_a_wrong_name_or_port_fails_at_once(registry: lk.Lab) -> None:
    with (
        pytest.raises(lk.ObjectNotFound, match="svc/nope not found"),
        registry.port_forward("svc/nope", 8000),
    ):
        pass
    with (
        pytest.raises(lk.BadParameter, match=r"svc/lab-registry has no port 9999 \(it has: 8000\)"),
        registry.port_forward("svc/lab-registry", 9999),
    ):
        pass
