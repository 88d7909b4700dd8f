"""Where a lesson starts: the state earlier lessons leave, re-made idempotently so each lesson runs alone.

Lessons 03 to 08 begin from the one-replica dev registry of lessons 00 to 02; lesson 04 and 07 leave the
three-replica shape, whose ``podManagementPolicy`` cannot change in place, so it is deleted first (its
claims stay, and pod 0 keeps its data).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import yaml

from labkit.paths import MANIFESTS

if TYPE_CHECKING:
    from labkit.lab import Lab

STATEFULSET = "statefulset/mcp-mesh-registry"
FOUNDATION = ("namespace-rbac.yaml", "registry-config.yaml")
DEV_REGISTRY = "registry-statefulset-dev.yaml"


def apply_foundation(lab: Lab) -> list[str]:
    """Lessons 00 and 01's objects in the lab's namespace: namespace, RBAC, ConfigMap and Secret."""
    return [ref for name in FOUNDATION for ref in lab.apply(MANIFESTS / name, namespace=lab.namespace)]


def setup_dev_registry(
    lab: Lab, image: str = "mcp-mesh/registry:dev", timeout: float = 180
) -> dict[str, Any]:
    """The one-replica dev registry of lesson 02, rolled out; returns its StatefulSet."""
    if lab.exists(STATEFULSET) and lab.get(STATEFULSET)["spec"].get("podManagementPolicy") == "Parallel":
        lab.delete(STATEFULSET)
    apply_foundation(lab)
    lab.apply(MANIFESTS / DEV_REGISTRY, images={"mcp-mesh/registry": image}, namespace=lab.namespace)
    lab.wait_rollout(STATEFULSET, timeout=timeout)
    return lab.get(STATEFULSET)


def restore_registry(name: str = "mcp-mesh-registry-restore") -> list[dict[str, Any]]:
    """A second registry made from the dev one to restore a backup into: a headless Service and a
    StatefulSet of its own name and labels (so its own, empty claim), the same ConfigMap and Secret (so
    the same backup key), and leader election off (it would compete for the main registry's Lease)."""
    docs = [d for d in yaml.safe_load_all((MANIFESTS / DEV_REGISTRY).read_text()) if d]
    statefulset = copy.deepcopy(next(d for d in docs if d["kind"] == "StatefulSet"))
    service = copy.deepcopy(next(d for d in docs if d["metadata"]["name"] == "mcp-mesh-registry-headless"))
    labels = {"app.kubernetes.io/name": name}
    service["metadata"].update(name=name, labels=labels)
    service["spec"]["selector"] = labels
    statefulset["metadata"].update(name=name, labels=labels)
    statefulset["spec"].update(serviceName=name, selector={"matchLabels": labels})
    statefulset["spec"]["template"]["metadata"]["labels"] = labels
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [*container.get("env", []), {"name": "ENABLE_LEADER_ELECTION", "value": "false"}]
    return [service, statefulset]
