"""manifests/monitoring: Prometheus beside the registry, with the least RBAC, the kit's rules and the
scrape job the rules are written for; the Kustomize component renders the same objects."""

from __future__ import annotations

from typing import Any

import yaml

from labkit.cluster.images.catalog import PROMETHEUS_IMAGE, normalize
from tests.manifests.kit_checks import all_problems
from tests.manifests.manifest_sources import (
    KUSTOMIZE,
    MANIFESTS,
    Document,
    identity,
    render_kustomize,
)
from tests.manifests.test_manifests import schema_errors

MONITORING = MANIFESTS / "monitoring"


def objects() -> dict[tuple[str, str, str], Document]:
    return {identity(doc): doc for doc in render_kustomize(MONITORING)}


def by_kind(kind: str) -> Document:
    (found,) = [doc for key, doc in objects().items() if key[0] == kind]
    return found


def prometheus_config() -> dict[str, Any]:
    loaded = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_monitoring_folder_renders_valid_objects_that_pass_the_kits_checks() -> None:
    docs = list(objects().values())
    assert {doc["kind"] for doc in docs} == {
        "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "Deployment"
    }  # fmt: skip
    assert not schema_errors(docs)
    assert not all_problems(docs)
    assert all(doc["metadata"]["namespace"] == "mcp-mesh" for doc in docs)


def test_the_config_map_carries_the_configuration_and_the_rules_files_unchanged() -> None:
    data = by_kind("ConfigMap")["data"]
    assert data == {
        "prometheus.yml": (MONITORING / "prometheus.yml").read_text(),
        "registry-rules.yml": (MONITORING / "registry-rules.yml").read_text(),
    }
    deployment = by_kind("Deployment")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == by_kind("ConfigMap")["metadata"]["name"]
    mount = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert prometheus_config()["rule_files"] == [f"{mount['mountPath']}/registry-rules.yml"]


def test_prometheus_may_only_read_pods_endpoints_and_services() -> None:
    role = by_kind("Role")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "endpoints", "services"], "verbs": ["get", "list", "watch"]}
    ]
    binding = by_kind("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = by_kind("ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "mcp-mesh"}]
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account


def test_the_scrape_job_is_the_rules_job_and_keeps_the_registrys_metrics_port() -> None:
    (job,) = prometheus_config()["scrape_configs"]
    assert job["job_name"] == "mcp-registry"
    assert 'job="mcp-registry"' in (MONITORING / "registry-rules.yml").read_text()
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"own_namespace": True}}]
    keeps = {
        tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"
    }
    assert keeps[("__meta_kubernetes_pod_container_port_name",)] == "metrics"
    registry = objects_of_overlay()[("StatefulSet", "mcp-mesh", "mcp-mesh-registry")]
    labels = registry["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == keeps[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
    ports = registry["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert "metrics" in {port["name"] for port in ports}


def objects_of_overlay() -> dict[tuple[str, str, str], Document]:
    return {identity(doc): doc for doc in render_kustomize(KUSTOMIZE / "overlays" / "monitoring")}


def test_the_overlay_is_the_dev_registry_plus_the_monitoring_objects() -> None:
    dev = {identity(doc): doc for doc in render_kustomize(KUSTOMIZE / "overlays" / "dev")}
    assert objects_of_overlay() == {**dev, **objects()}


def test_the_image_is_the_one_the_local_node_builds() -> None:
    (container,) = by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    assert normalize(container["image"]) == PROMETHEUS_IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"
