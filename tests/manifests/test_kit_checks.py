"""The kit's checks catch what they claim to: each is shown a mistake the guide makes, or a typical one."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from tests.manifests.kit_checks import (
    Document,
    all_problems,
    env_order_problems,
    probe_problems,
    protocol_problems,
    reference_problems,
    selector_problems,
    service_problems,
)
from tests.manifests.manifest_sources import MANIFESTS, SCHEMA_VERSION, load_documents, load_set


def dev_set() -> list[Document]:
    return copy.deepcopy(load_set("dev"))


def find(docs: list[Document], kind: str, name: str) -> Document:
    return next(doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name)


def registry_container(docs: list[Document]) -> Document:
    return find(docs, "StatefulSet", "mcp-mesh-registry")["spec"]["template"]["spec"]["containers"][0]


def test_the_kits_dev_set_has_no_problems() -> None:
    assert all_problems(dev_set()) == []


def test_a_claim_nobody_creates_is_reported() -> None:
    # The guide's PostgreSQL Deployment, as written: it mounts postgres-pvc and nothing creates it.
    docs = [
        doc
        for doc in load_documents(MANIFESTS / "postgres-registry.yaml")
        if doc["kind"] != "PersistentVolumeClaim"
    ]
    assert reference_problems(docs) == [
        "deployment/postgres: PersistentVolumeClaim 'postgres-pvc' is not defined"
    ]


def test_a_missing_configmap_key_and_secret_are_reported() -> None:
    docs = dev_set()
    registry_container(docs)["env"].append(
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "mcp-registry-config", "key": "NO_SUCH_KEY"}}}
    )
    docs = [doc for doc in docs if doc["kind"] != "Secret"]
    problems = reference_problems(docs)
    assert any("has no key 'NO_SUCH_KEY'" in p for p in problems)
    assert any("Secret 'mcp-registry-secret' is not defined" in p for p in problems)


def test_a_statefulset_without_its_governing_service_is_reported() -> None:
    # The guide's local-image example names serviceName registry-dev and creates no such Service.
    docs = [
        doc for doc in load_documents(MANIFESTS / "registry-local-image.yaml") if doc["kind"] != "Service"
    ]
    assert reference_problems(docs) == [
        "statefulset/mcp-mesh-registry-dev: Service 'registry-dev' is not defined"
    ]


def test_a_selector_that_misses_the_template_is_reported() -> None:
    docs = dev_set()
    find(docs, "StatefulSet", "mcp-mesh-registry")["spec"]["template"]["metadata"]["labels"] = {
        "app": "other"
    }
    assert len(selector_problems(docs)) == 1
    assert any("matches no pod template" in p for p in service_problems(docs))


def test_a_probe_on_an_undeclared_port_is_reported() -> None:
    docs = dev_set()
    registry_container(docs)["readinessProbe"]["httpGet"]["port"] = "htp"
    registry_container(docs)["livenessProbe"]["httpGet"]["port"] = 8080
    assert len(probe_problems(docs)) == 2


def test_a_service_targeting_an_undeclared_port_is_reported() -> None:
    docs = dev_set()
    find(docs, "Service", "mcp-mesh-registry")["spec"]["ports"][1]["targetPort"] = 9091
    assert service_problems(docs) == [
        "service/mcp-mesh-registry: port metrics targets 9091, which no selected container declares"
    ]


def test_ports_without_protocol_are_reported() -> None:
    # The guide's Services and containers, as written, state no protocol.
    docs = dev_set()
    del find(docs, "Service", "mcp-mesh-registry-headless")["spec"]["ports"][0]["protocol"]
    del registry_container(docs)["ports"][0]["protocol"]
    assert len(protocol_problems(docs)) == 2


def test_a_variable_used_before_it_is_defined_is_reported() -> None:
    docs = dev_set()
    registry_container(docs)["env"].insert(0, {"name": "REGISTRY_INSTANCE_ID", "value": "$(POD_NAME)"})
    assert len(env_order_problems(docs)) == 1
    registry_container(docs)["env"].append(registry_container(docs)["env"].pop(0))
    assert env_order_problems(docs) == []


def test_the_guides_ha_fragment_is_rejected_by_the_schema() -> None:
    # Step 5 of the guide as written: no selector, no template labels, a container without image.
    fragment = yaml.safe_load(
        """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: mcp-mesh-registry, namespace: mcp-mesh}
        spec:
          serviceName: mcp-mesh-registry-headless
          replicas: 3
          template:
            spec:
              containers:
                - name: registry
                  env: [{name: ENABLE_LEADER_ELECTION, value: "true"}]
        """
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(fragment, SCHEMA_VERSION, strict=True)
    assert selector_problems([fragment]) == ["statefulset/mcp-mesh-registry: no spec.selector.matchLabels"]


def test_strict_validation_rejects_an_unknown_field() -> None:
    docs = dev_set()
    registry_container(docs)["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            find(docs, "StatefulSet", "mcp-mesh-registry"), SCHEMA_VERSION, strict=True
        )
