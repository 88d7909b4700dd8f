"""Manifest loading and preparation: files, folders, Kustomize, dicts; images; port protocols."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labkit import manifests
from labkit.errors import BadParameter, ManifestError

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: reg
spec:
  ports:
  - name: http
    port: 8000
"""
STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: reg
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: registry
        image: mcp-mesh/registry:latest
        ports:
        - containerPort: 8000
        - containerPort: 9090
          protocol: UDP
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_multi_document_file_loads_in_order(tmp_path: Path) -> None:
    file = write(tmp_path / "all.yaml", SERVICE + "---\n" + STATEFULSET + "---\n")
    objects = manifests.load_objects(file)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Service", "reg"),
        ("StatefulSet", "reg"),
    ]


def test_a_folder_loads_every_manifest_file_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", STATEFULSET)
    write(tmp_path / "a.yml", SERVICE)
    write(tmp_path / "notes.txt", "not a manifest")
    assert [o["kind"] for o in manifests.load_objects(tmp_path)] == ["Service", "StatefulSet"]


def test_a_kustomize_directory_is_rendered_with_kubectl(tmp_path: Path) -> None:
    write(tmp_path / "svc.yaml", SERVICE)
    write(tmp_path / "kustomization.yaml", "resources: [svc.yaml]\nnamespace: lab-x\nnamePrefix: k-\n")
    (obj,) = manifests.load_objects(tmp_path)
    assert obj["metadata"] == {"name": "k-reg", "namespace": "lab-x"}


def test_a_broken_kustomization_names_the_problem(tmp_path: Path) -> None:
    write(tmp_path / "kustomization.yaml", "resources: [missing.yaml]\n")
    with pytest.raises(ManifestError, match="kubectl kustomize"):
        manifests.load_objects(tmp_path)


def test_dicts_and_lists_are_copied_not_shared() -> None:
    source: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    (loaded,) = manifests.load_objects(source)
    loaded["data"]["a"] = "2"
    assert source["data"]["a"] == "1"
    assert len(manifests.load_objects([source, source])) == 2


def test_a_kind_list_is_expanded() -> None:
    item = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert manifests.load_objects({"apiVersion": "v1", "kind": "List", "items": [item, item]}) == [item, item]


def test_a_missing_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"manifest path '.*nope\.yaml' does not exist"):
        manifests.load_objects(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    file = write(tmp_path / "bad.yaml", "apiVersion: v1\nkind: [unclosed\n")
    with pytest.raises(ManifestError, match=r"bad\.yaml is not valid YAML at line"):
        manifests.load_objects(file)


def test_an_object_without_a_name_is_rejected(tmp_path: Path) -> None:
    file = write(tmp_path / "noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(ManifestError, match=r"lacks metadata\.name"):
        manifests.load_objects(file)


def test_a_source_of_the_wrong_type_is_a_bad_parameter() -> None:
    with pytest.raises(BadParameter, match="source must be a path, a dict or a list of dicts, not int"):
        manifests.load_objects(42)  # type: ignore[arg-type]


def test_relative_paths_fall_back_to_the_kits_manifests_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = sorted(p for p in manifests.MANIFESTS.glob("*.yaml"))
    if not shipped:
        pytest.fail("manifests/ holds no .yaml files to load")
    monkeypatch.chdir(tmp_path)
    assert manifests.resolve_path(shipped[0].name) == manifests.MANIFESTS / shipped[0].name


def test_images_are_rewritten_by_repository_or_whole_reference(tmp_path: Path) -> None:
    objects = manifests.load_objects(write(tmp_path / "sts.yaml", STATEFULSET))
    manifests.rewrite_images(
        objects, {"mcp-mesh/registry": "mcp-mesh/registry:ci-1", "busybox:1.36": "busybox:2"}
    )
    spec = objects[0]["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "mcp-mesh/registry:ci-1"
    assert spec["initContainers"][0]["image"] == "busybox:2"


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("mcp-mesh/registry:dev", "mcp-mesh/registry"),
        ("localhost:5000/registry:1", "localhost:5000/registry"),
        ("postgres", "postgres"),
        ("busybox@sha256:abc", "busybox"),
    ],
)
def test_image_repository_strips_tag_and_digest(image: str, repository: str) -> None:
    assert manifests.image_repository(image) == repository


def test_images_must_map_strings_to_strings() -> None:
    with pytest.raises(BadParameter, match="images must map"):
        manifests.rewrite_images([], {"mcp-mesh/registry": 1})  # type: ignore[dict-item]


def test_ports_get_tcp_only_where_protocol_is_missing(tmp_path: Path) -> None:
    objects = manifests.load_objects(write(tmp_path / "all.yaml", SERVICE + "---\n" + STATEFULSET))
    manifests.fill_port_protocols(objects)
    assert objects[0]["spec"]["ports"][0]["protocol"] == "TCP"
    ports = objects[1]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [p["protocol"] for p in ports] == ["TCP", "UDP"]


def test_namespaces_are_applied_first() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    assert [o["kind"] for o in manifests.apply_order([cm, ns, cm])] == ["Namespace", "ConfigMap", "ConfigMap"]


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume"}


def namespaced(obj: dict[str, Any]) -> bool:
    return obj["kind"] not in CLUSTER_SCOPED


def test_retarget_moves_the_guide_rbac_file_like_kustomize() -> None:
    objects = manifests.load_objects(manifests.MANIFESTS / "namespace-rbac.yaml")
    manifests.retarget_namespace(objects, "alice", namespaced)
    by_kind = {obj["kind"]: obj for obj in objects}
    assert by_kind["Namespace"]["metadata"]["name"] == "alice"
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        assert by_kind[kind]["metadata"]["namespace"] == "alice", kind
    assert [s["namespace"] for s in by_kind["RoleBinding"]["subjects"]] == ["alice"]


def test_retarget_leaves_foreign_subjects_and_cluster_objects_alone() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "mcp-mesh"}}
    reader = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "ours", "namespace": "mcp-mesh"},
            {"kind": "ServiceAccount", "name": "dns", "namespace": "kube-system"},
            {"kind": "Group", "name": "system:authenticated"},
        ],
    }
    manifests.retarget_namespace([config, reader, binding], "bob", namespaced)
    assert config["metadata"]["namespace"] == "bob"
    assert "namespace" not in reader["metadata"]
    assert "namespace" not in binding["metadata"]
    assert [s.get("namespace") for s in binding["subjects"]] == ["bob", "kube-system", None]
