"""Unit tests: which images this node can "pull", and the commands they map to."""

from __future__ import annotations

import sys

import pytest

from labkit.cluster.node.images import ImagePullError, image_name, postgres_bin_dir, resolve_image


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("mcp-mesh/registry:latest", "mcp-mesh/registry"),
        ("docker.io/mcp-mesh/registry:ci-1", "mcp-mesh/registry"),
        ("localhost:5000/mcp-mesh/registry", "mcp-mesh/registry"),
        ("docker.io/library/postgres:15-alpine", "postgres"),
        ("busybox@sha256:abcd", "busybox"),
        ("curlimages/curl:8.5.0", "curlimages/curl"),
    ],
)
def test_image_names(image: str, name: str) -> None:
    assert image_name(image) == name


def test_registry_runs_this_checkout_bound_to_the_pod_ip() -> None:
    image = resolve_image({"image": "mcp-mesh/registry:dev"}, "127.244.0.5")
    assert image.argv([], []) == [sys.executable, "-m", "registry"]
    assert image.argv(["python", "-c", "print(1)"], []) == [sys.executable, "-c", "print(1)"]
    assert image.forced_env["REGISTRY_HOST"] == "127.244.0.5"


def test_docker_entrypoint_and_cmd_rules() -> None:
    curl = resolve_image({"image": "curlimages/curl"}, "127.244.0.5")
    assert curl.argv([], ["-s", "http://x"]) == ["curl", "-s", "http://x"]
    assert curl.argv(["sh", "-c"], ["echo hi"]) == ["sh", "-c", "echo hi"]
    busybox = resolve_image({"image": "busybox"}, "127.244.0.5")
    assert busybox.argv([], []) == ["sh"]


def test_postgres_maps_to_the_machine_server_when_installed() -> None:
    if postgres_bin_dir() is None:
        with pytest.raises(ImagePullError):
            resolve_image({"image": "postgres:15"}, "127.244.0.5")
        return
    image = resolve_image({"image": "postgres:15-alpine"}, "127.244.0.5")
    assert image.kind == "postgres"
    assert str(postgres_bin_dir()) in image.path
    assert image.forced_env["LABKIT_POD_IP"] == "127.244.0.5"


def test_unknown_images_fail_to_pull_like_a_real_node() -> None:
    with pytest.raises(ImagePullError) as pulled:
        resolve_image({"image": "nginx:1.25"}, "127.244.0.5")
    assert pulled.value.reason == "ErrImagePull"
    assert 'Failed to pull image "nginx:1.25"' in pulled.value.message
    with pytest.raises(ImagePullError) as never:
        resolve_image({"image": "nginx:1.25", "imagePullPolicy": "Never"}, "127.244.0.5")
    assert never.value.reason == "ErrImageNeverPull"
