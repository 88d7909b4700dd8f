"""The real kubectl against the session's local cluster: version, apply, RBAC, Endpoints on loopback, the
``kubernetes`` Service, and the default StorageClass provisioning a host-path volume.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

KUBECTL = str(Path(sys.executable).parent / "kubectl")


class Kubectl:
    """The real kubectl with the local cluster's kubeconfig."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.kubeconfig = str(cluster.kubeconfig_path)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr.strip()}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, *objects: dict[str, Any]) -> str:
        return self.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(objects)).stdout


@pytest.fixture(scope="module")
def kubectl(local_cluster: LocalCluster) -> Kubectl:
    return Kubectl(local_cluster)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"cp-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def saved_cluster(cluster: LocalCluster) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cluster.layout.cluster_file.read_text())
    return data


def test_discovery_reports_v1_20_2(kubectl: Kubectl) -> None:
    version = json.loads(kubectl.run("get", "--raw", "/version").stdout)
    assert (version["gitVersion"], version["major"], version["minor"]) == ("v1.20.2", "1", "20")


def test_default_storage_class_is_standard(kubectl: Kubectl) -> None:
    storage_class = kubectl.json("get", "storageclass", "standard")
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["provisioner"] == "kubernetes.io/host-path"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


def test_kubernetes_service_lives_in_the_node_ranges(kubectl: Kubectl, local_cluster: LocalCluster) -> None:
    saved = saved_cluster(local_cluster)
    network = local_cluster.kubelet_node().network
    service = kubectl.json("get", "service", "kubernetes", "-n", "default")
    assert saved["service_cidr"] == network.service_cidr
    assert service["spec"]["clusterIP"] == network.kubernetes_service_ip
    endpoints = kubectl.json("get", "endpoints", "kubernetes", "-n", "default")
    (subset,) = endpoints["subsets"]
    assert [address["ip"] for address in subset["addresses"]] == [network.host_ip]
    assert [port["port"] for port in subset["ports"]] == [saved["ports"]["apiserver"]]


def test_endpoints_accept_loopback_pod_addresses(kubectl: Kubectl, namespace: str) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "manual", "namespace": namespace},
        "spec": {"ports": [{"port": 80, "targetPort": 8000, "protocol": "TCP"}]},
    }
    endpoints: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "manual", "namespace": namespace},
        "subsets": [{"addresses": [{"ip": "127.200.3.4"}], "ports": [{"port": 8000, "protocol": "TCP"}]}],
    }
    kubectl.apply(service, endpoints)
    stored = kubectl.json("get", "endpoints", "manual", "-n", namespace)
    assert stored["subsets"][0]["addresses"][0]["ip"] == "127.200.3.4"
    # The patch only lifts the loopback rule: other special addresses are still refused.
    endpoints["subsets"][0]["addresses"] = [{"ip": "169.254.1.1"}]
    refused = kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(endpoints), check=False)
    assert refused.returncode != 0
    assert "link-local" in refused.stderr


def test_rbac_is_enforced_for_service_accounts(kubectl: Kubectl, namespace: str) -> None:
    account = f"system:serviceaccount:{namespace}:default"

    def can_create_leases() -> str:
        result = kubectl.run(
            "auth", "can-i", "create", "leases", "-n", namespace, "--as", account, check=False
        )
        return result.stdout.strip()

    assert can_create_leases() == "no"
    assert kubectl.run("auth", "can-i", "create", "leases", "-n", namespace).stdout.strip() == "yes"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "leases", "namespace": namespace},
        "rules": [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get"]}
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "leases", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leases"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
    }
    kubectl.apply(role, binding)
    deadline = time.monotonic() + 10
    while can_create_leases() != "yes" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert can_create_leases() == "yes"


def test_service_accounts_get_tokens_in_new_namespaces(kubectl: Kubectl, namespace: str) -> None:
    deadline = time.monotonic() + 30
    secrets: list[Any] = []
    while not secrets and time.monotonic() < deadline:
        result = kubectl.run("get", "serviceaccount", "default", "-n", namespace, "-o", "json", check=False)
        secrets = json.loads(result.stdout).get("secrets") or [] if result.returncode == 0 else []
        time.sleep(0.2)
    assert secrets, "the token controller did not create the default ServiceAccount's token"


def test_a_claim_is_provisioned_on_the_host_when_a_pod_uses_it(kubectl: Kubectl, namespace: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}},
    }
    kubectl.apply(claim)
    assert kubectl.json("get", "pvc", "data", "-n", namespace)["status"]["phase"] == "Pending"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "consumer", "namespace": namespace},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sleep", "600"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }
    kubectl.apply(pod)
    kubectl.run("wait", "pvc/data", "-n", namespace, "--for=jsonpath={.status.phase}=Bound", "--timeout=60s")
    volume_name = kubectl.json("get", "pvc", "data", "-n", namespace)["spec"]["volumeName"]
    volume = kubectl.json("get", "pv", volume_name)
    assert volume["spec"]["storageClassName"] == "standard"
    assert Path(volume["spec"]["hostPath"]["path"]).is_dir()
