"""The kit's own checks of a set of Kubernetes objects, beyond what the API schemas can see.

Each check takes the documents applied together and returns a list of problems (empty when fine),
each naming the object and what is wrong. They catch what the guide gets wrong: a claim nobody
creates, a selector that matches no template, a probe on an undeclared port, a port entry without a
protocol (rejected by v1.20's server-side apply), `$(VAR)` before VAR is defined.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Document = dict[str, Any]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
VAR_REFERENCE = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def name_of(doc: Document) -> str:
    """kind/name, as kubectl writes it."""
    return f"{doc['kind'].lower()}/{doc['metadata']['name']}"


def pod_templates(docs: list[Document]) -> Iterator[tuple[Document, Document]]:
    """(owner, pod template) for every workload and bare Pod in docs."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield doc, doc["spec"]["template"]
        elif doc["kind"] == "Pod":
            yield doc, doc


def containers(pod: Document) -> list[Document]:
    """Init and regular containers of a pod template."""
    spec = pod.get("spec", {})
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def selector_problems(docs: list[Document]) -> list[str]:
    """A workload's selector must match its own template's labels (else the API rejects it)."""
    problems = []
    for owner, template in pod_templates(docs):
        if owner["kind"] == "Pod":
            continue
        match = owner["spec"].get("selector", {}).get("matchLabels")
        labels = template.get("metadata", {}).get("labels", {})
        if not match:
            problems.append(f"{name_of(owner)}: no spec.selector.matchLabels")
        elif any(labels.get(key) != value for key, value in match.items()):
            problems.append(f"{name_of(owner)}: selector {match} does not match template labels {labels}")
    return problems


def _objects(docs: list[Document], kind: str) -> dict[str, Document]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _keys(doc: Document) -> set[str]:
    return set(doc.get("data") or {}) | set(doc.get("stringData") or {}) | set(doc.get("binaryData") or {})


def reference_problems(docs: list[Document]) -> list[str]:
    """Every ConfigMap, Secret (and key), ServiceAccount, PVC, Role and governing Service named exists."""
    configmaps, secrets = _objects(docs, "ConfigMap"), _objects(docs, "Secret")
    problems = []

    def need(owner: Document, kind: str, found: dict[str, Document], name: str, key: str | None) -> None:
        if name not in found:
            problems.append(f"{name_of(owner)}: {kind} {name!r} is not defined")
        elif key is not None and key not in _keys(found[name]):
            problems.append(f"{name_of(owner)}: {kind} {name!r} has no key {key!r}")

    for owner, pod in pod_templates(docs):
        spec = pod.get("spec", {})
        for container in containers(pod):
            for source in container.get("envFrom", []):
                for field, kind, found in (
                    ("configMapRef", "ConfigMap", configmaps),
                    ("secretRef", "Secret", secrets),
                ):
                    ref = source.get(field)
                    if ref and not ref.get("optional"):
                        need(owner, kind, found, ref["name"], None)
            for var in container.get("env", []):
                value_from = var.get("valueFrom", {})
                for field, kind, found in (
                    ("configMapKeyRef", "ConfigMap", configmaps),
                    ("secretKeyRef", "Secret", secrets),
                ):
                    ref = value_from.get(field)
                    if ref and not ref.get("optional"):
                        need(owner, kind, found, ref["name"], ref["key"])
        for volume in spec.get("volumes", []):
            if "configMap" in volume and not volume["configMap"].get("optional"):
                need(owner, "ConfigMap", configmaps, volume["configMap"]["name"], None)
            if "secret" in volume and not volume["secret"].get("optional"):
                need(owner, "Secret", secrets, volume["secret"]["secretName"], None)
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                need(owner, "PersistentVolumeClaim", _objects(docs, "PersistentVolumeClaim"), claim, None)
        account = spec.get("serviceAccountName")
        if account and account != "default":
            need(owner, "ServiceAccount", _objects(docs, "ServiceAccount"), account, None)
        if owner["kind"] == "StatefulSet":
            service = owner["spec"].get("serviceName")
            if service:
                need(owner, "Service", _objects(docs, "Service"), service, None)
    for binding in _objects(docs, "RoleBinding").values():
        role = binding["roleRef"]
        if role["kind"] == "Role":
            need(binding, "Role", _objects(docs, "Role"), role["name"], None)
        for subject in binding.get("subjects", []):
            if subject["kind"] == "ServiceAccount":
                need(binding, "ServiceAccount", _objects(docs, "ServiceAccount"), subject["name"], None)
    return problems


def _declared_ports(pod: Document) -> tuple[set[str], set[int]]:
    names, numbers = set(), set()
    for container in containers(pod):
        for port in container.get("ports", []):
            numbers.add(int(port["containerPort"]))
            if "name" in port:
                names.add(port["name"])
    return names, numbers


def _port_declared(port: int | str, names: set[str], numbers: set[int]) -> bool:
    return port in names if isinstance(port, str) else int(port) in numbers


def probe_problems(docs: list[Document]) -> list[str]:
    """Every httpGet/tcpSocket probe names a port its container declares (by name or number)."""
    problems = []
    for owner, pod in pod_templates(docs):
        for container in containers(pod):
            names, numbers = _declared_ports({"spec": {"containers": [container]}})
            for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(probe_name) or {}
                for handler in ("httpGet", "tcpSocket"):
                    if handler in probe and not _port_declared(probe[handler]["port"], names, numbers):
                        problems.append(
                            f"{name_of(owner)}: {container['name']} {probe_name} uses port "
                            f"{probe[handler]['port']!r}, which the container does not declare"
                        )
    return problems


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def service_problems(docs: list[Document]) -> list[str]:
    """Every Service selects some pod template in docs, and its target ports are declared there."""
    problems = []
    templates = list(pod_templates(docs))
    for service in _objects(docs, "Service").values():
        selector = service["spec"].get("selector")
        if not selector:
            continue
        selected = [
            pod for _, pod in templates if _matches(selector, pod.get("metadata", {}).get("labels", {}))
        ]
        if not selected:
            problems.append(f"{name_of(service)}: selector {selector} matches no pod template")
            continue
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            if not any(_port_declared(target, *_declared_ports(pod)) for pod in selected):
                problems.append(
                    f"{name_of(service)}: port {port.get('name', port['port'])} targets {target!r}, "
                    "which no selected container declares"
                )
    return problems


def protocol_problems(docs: list[Document]) -> list[str]:
    """Every Service port and container port states its protocol (v1.20 server-side apply needs it)."""
    problems = []
    for service in _objects(docs, "Service").values():
        for port in service["spec"].get("ports", []):
            if "protocol" not in port:
                problems.append(
                    f"{name_of(service)}: port {port.get('name', port['port'])} states no protocol"
                )
    for owner, pod in pod_templates(docs):
        for container in containers(pod):
            for port in container.get("ports", []):
                if "protocol" not in port:
                    problems.append(
                        f"{name_of(owner)}: container {container['name']} port "
                        f"{port.get('name', port['containerPort'])} states no protocol"
                    )
    return problems


def env_order_problems(docs: list[Document]) -> list[str]:
    """A `$(VAR)` in an env value only expands when VAR is defined earlier in the same list."""
    problems = []
    for owner, pod in pod_templates(docs):
        for container in containers(pod):
            defined: set[str] = set()
            for var in container.get("env", []):
                for referenced in VAR_REFERENCE.findall(str(var.get("value", ""))):
                    if referenced not in defined:
                        problems.append(
                            f"{name_of(owner)}: {container['name']} env {var['name']} uses $({referenced}) "
                            f"before {referenced} is defined: it would stay the literal text"
                        )
                defined.add(var["name"])
    return problems


ALL_CHECKS = (
    selector_problems,
    reference_problems,
    probe_problems,
    service_problems,
    protocol_problems,
    env_order_problems,
)


def all_problems(docs: list[Document]) -> list[str]:
    """Every check's problems for one set of documents."""
    return [problem for check in ALL_CHECKS for problem in check(docs)]
