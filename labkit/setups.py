"""Where a lesson starts: the state earlier lessons leave, re-made idempotently so each lesson runs alone.

Lessons 03 to 08 begin from the one-replica dev registry of lessons 00 to 02; lesson 04 and 07 leave the
three-replica shape, whose ``podManagementPolicy`` cannot change in place, so it is deleted first (its
claims stay, and pod 0 keeps its data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
