"""The kit's manifests: every file and Kustomize target is valid for the API and passes the kit's checks."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from tests.manifests.kit_checks import all_problems, name_of
from tests.manifests.manifest_sources import (
    GUIDE_SETS,
    KUSTOMIZE,
    MANIFESTS,
    PITFALLS,
    SCHEMA_VERSION,
    Document,
    all_manifest_files,
    identity,
    kustomize_targets,
    load_documents,
    load_set,
    render_kustomize,
)

GUIDE_FILES = [
    "namespace-rbac.yaml",
    "registry-config.yaml",
    "registry-statefulset-dev.yaml",
    "registry-ha.yaml",
    "registry-local-image.yaml",
    "postgres-registry.yaml",
    "registry-data-pvc.yaml",
]
OVERLAYS = ["dev", "ha", "single-node", "postgres"]


def relative(path: Path) -> str:
    return str(path.relative_to(MANIFESTS))


def schema_errors(docs: list[Document]) -> list[str]:
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            errors.append(f"{name_of(doc)}: {where}: {exc.message}")
    return errors


def test_the_guides_files_and_the_layout_exist() -> None:
    missing = [name for name in GUIDE_FILES if not (MANIFESTS / name).is_file()]
    missing += [f"kustomize/overlays/{o}" for o in OVERLAYS if not (KUSTOMIZE / "overlays" / o).is_dir()]
    assert not missing, f"missing from manifests/: {missing}"
    assert len(list(PITFALLS.glob("*.yaml"))) >= 6


def test_every_file_belongs_to_a_deployment_set() -> None:
    in_sets = {name for files in GUIDE_SETS.values() for name in files}
    left_out = [relative(path) for path in all_manifest_files() if relative(path) not in in_sets]
    assert not left_out, f"add these files to GUIDE_SETS so their references are checked: {left_out}"


@pytest.mark.parametrize("path", all_manifest_files(), ids=relative)
def test_file_validates_strictly_against_the_kubernetes_schemas(path: Path) -> None:
    docs = load_documents(path)
    assert docs, f"{relative(path)} holds no documents"
    assert not schema_errors(docs)


@pytest.mark.parametrize("name", sorted(GUIDE_SETS))
def test_files_applied_together_pass_the_kits_checks(name: str) -> None:
    assert not all_problems(load_set(name))


@pytest.mark.parametrize("target", kustomize_targets(), ids=lambda p: str(p.relative_to(KUSTOMIZE)))
def test_kustomize_target_renders_validates_and_passes_the_kits_checks(target: Path) -> None:
    docs = render_kustomize(target)
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "StatefulSet", "Service"} <= kinds
    assert not schema_errors(docs)
    assert not all_problems(docs)
    assert all(doc["metadata"].get("namespace") == "mcp-mesh" for doc in docs if doc["kind"] != "Namespace")


@pytest.mark.parametrize(
    "name", ["namespace-rbac.yaml", "registry-config.yaml", "registry-statefulset-dev.yaml"]
)
def test_base_files_are_exact_copies_of_the_guides_files(name: str) -> None:
    copy, original = KUSTOMIZE / "base" / name, MANIFESTS / name
    assert copy.read_text() == original.read_text(), (
        f"run: cp manifests/{name} manifests/kustomize/base/{name}"
    )


def rendered(overlay: str) -> dict[tuple[str, str, str], Document]:
    return {identity(doc): doc for doc in render_kustomize(KUSTOMIZE / "overlays" / overlay)}


def guide_objects(name: str) -> dict[tuple[str, str, str], Document]:
    return {identity(doc): doc for doc in load_documents(MANIFESTS / name)}


def test_single_node_overlay_renders_the_statefulset_of_registry_ha_yaml() -> None:
    ha = guide_objects("registry-ha.yaml")
    overlay = rendered("single-node")
    for key, doc in ha.items():
        assert overlay[key] == doc, f"{key} differs between registry-ha.yaml and overlays/single-node"


def test_ha_overlay_requires_one_replica_per_node() -> None:
    statefulset = rendered("ha")[("StatefulSet", "mcp-mesh", "mcp-mesh-registry")]
    anti = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert list(anti) == ["requiredDuringSchedulingIgnoredDuringExecution"]
    assert statefulset["spec"]["replicas"] == 3


def test_postgres_overlay_renders_the_objects_of_postgres_registry_yaml() -> None:
    overlay = rendered("postgres")
    for key, doc in guide_objects("postgres-registry.yaml").items():
        assert overlay[key] == doc, f"{key} differs between postgres-registry.yaml and overlays/postgres"


def test_the_database_password_matches_postgres_password() -> None:
    objects = guide_objects("postgres-registry.yaml")
    registry_secret = objects[("Secret", "mcp-mesh", "mcp-registry-secret")]["stringData"]
    postgres_secret = objects[("Secret", "mcp-mesh", "postgres-secret")]["stringData"]
    config = objects[("ConfigMap", "mcp-mesh", "mcp-registry-config")]["data"]
    assert registry_secret["DATABASE_PASSWORD"] == postgres_secret["POSTGRES_PASSWORD"]
    assert config["DATABASE_USER"] == postgres_secret["POSTGRES_USER"]
    assert config["DATABASE_NAME"] == postgres_secret["POSTGRES_DB"]


def test_the_guides_values_are_kept() -> None:
    config = guide_objects("registry-config.yaml")
    data = config[("ConfigMap", "mcp-mesh", "mcp-registry-config")]["data"]
    assert data["LEADER_ELECTION_LEASE_DURATION"] == "15s"
    assert data["DATABASE_PATH"] == "/data/registry.db"
    secret = config[("Secret", "mcp-mesh", "mcp-registry-secret")]["stringData"]
    assert len(secret["ENCRYPTION_KEY"].encode()) == 32, "the registry exits 2 unless the key is 32 bytes"


def test_pitfalls_are_labelled_and_never_share_the_registrys_labels() -> None:
    for path in sorted(PITFALLS.glob("*.yaml")):
        for doc in load_documents(path):
            labels = doc["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/part-of") == "mcp-mesh-pitfalls", (
                f"{relative(path)} {name_of(doc)}"
            )
            assert labels.get("app.kubernetes.io/name") != "mcp-mesh-registry", (
                f"{relative(path)} {name_of(doc)}"
            )
