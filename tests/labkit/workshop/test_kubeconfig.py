"""The workshop kubeconfig: the lab's namespace on the chosen context, clusters and users left in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from labkit.errors import LabError
from labkit.paths import kubectl_path
from labkit.workshop.kubeconfig import find_context, write_workshop_kubeconfig

CLUSTER_CONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "labkit", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "labkit", "user": {"token": "t"}}],
    "contexts": [
        {"name": "labkit", "context": {"cluster": "labkit", "user": "labkit"}},
        {"name": "kind-kind", "context": {"cluster": "labkit", "user": "labkit"}},
    ],
    "current-context": "labkit",
}


@pytest.fixture
def cluster_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(CLUSTER_CONFIG))
    return path


def kubectl_view(value: str, jsonpath: str) -> str:
    return subprocess.run(
        [kubectl_path(), "config", "view", "--minify", "-o", f"jsonpath={jsonpath}"],
        env={"KUBECONFIG": value, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_kubectl_sees_the_namespace_on_the_current_context(cluster_file: Path, tmp_path: Path) -> None:
    value = write_workshop_kubeconfig(tmp_path / "ws" / "config", [str(cluster_file)], None, "alice")
    assert kubectl_view(value, "{.contexts[0].context.namespace}") == "alice"
    assert kubectl_view(value, "{.clusters[0].cluster.server}") == "https://127.0.0.1:1"


def test_the_namespace_survives_the_cluster_rewriting_its_file(cluster_file: Path, tmp_path: Path) -> None:
    value = write_workshop_kubeconfig(tmp_path / "ws" / "config", [str(cluster_file)], None, "alice")
    rewritten = {
        **CLUSTER_CONFIG,
        "clusters": [{"name": "labkit", "cluster": {"server": "https://127.0.0.1:2"}}],
    }
    cluster_file.write_text(yaml.safe_dump(rewritten))  # what a restart of the local cluster does
    assert kubectl_view(value, "{.contexts[0].context.namespace}") == "alice"
    assert kubectl_view(value, "{.clusters[0].cluster.server}") == "https://127.0.0.1:2"


def test_a_chosen_context_becomes_current(cluster_file: Path, tmp_path: Path) -> None:
    value = write_workshop_kubeconfig(tmp_path / "ws" / "config", [str(cluster_file)], "kind-kind", "bob")
    assert kubectl_view(value, "{.current-context}") == "kind-kind"


def test_a_wrong_context_names_the_ones_there_are(cluster_file: Path) -> None:
    with pytest.raises(
        LabError, match=r"no context 'kind-knid'.*it has: labkit, kind-kind\): pick one with --context"
    ):
        find_context([str(cluster_file)], "kind-knid")
