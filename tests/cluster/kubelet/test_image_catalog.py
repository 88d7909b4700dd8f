"""The image catalog without a cluster: archives keyed by the kit's sources, more tags of one image,
the newest builds kept, and the local registry serving the newest build of a name."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.cluster.builder.apt import SUITE, PrivateApt
from labkit.cluster.images.catalog import (
    IMAGES,
    PROMETHEUS_IMAGE,
    REGISTRY_IMAGE,
    Recipe,
    archive_path,
    debian_upstream_version,
    find_recipe,
    prune_builds,
    sources_digest,
)
from labkit.cluster.images.layers import Entry, write_layer
from labkit.cluster.images.oci import ImageConfig, write_oci_archive
from labkit.cluster.images.registry import Store


def never_built(*_: object) -> None:
    raise AssertionError("not built in these tests")


RECIPE = Recipe("docker.io/x/app:dev", "1", never_built, "a test image", sources=("app", "setup.cfg"))


def kit(tmp_path: Path) -> Path:
    root = tmp_path / "kit"
    (root / "app" / "__pycache__").mkdir(parents=True)
    (root / "app" / "main.py").write_text("print('v1')\n")
    (root / "setup.cfg").write_text("[x]\n")
    return root


def test_a_change_in_the_sources_names_a_new_archive(tmp_path: Path) -> None:
    root = kit(tmp_path)
    first = archive_path(RECIPE, tmp_path / "cache", root)
    (root / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    assert archive_path(RECIPE, tmp_path / "cache", root) == first, "caches are not sources"
    (root / "app" / "main.py").write_text("print('v2')\n")
    second = archive_path(RECIPE, tmp_path / "cache", root)
    assert second != first
    assert second.name.startswith("docker.io_x_app_dev-v1-")
    (root / "app" / "main.py").write_text("print('v1')\n")
    assert archive_path(RECIPE, tmp_path / "cache", root) == first, "same sources, same archive"


def test_only_the_registry_is_keyed_by_sources_and_the_guide_tags_are_there() -> None:
    registry = find_recipe(REGISTRY_IMAGE)
    assert "registry" in registry.sources
    assert sources_digest(registry)
    assert all(not recipe.sources for recipe in IMAGES if recipe is not registry)
    assert "docker.io/library/busybox:1.36" in find_recipe("busybox").names
    assert "docker.io/curlimages/curl:8.8.0" in find_recipe("curlimages/curl").names


def test_the_newest_builds_are_kept(tmp_path: Path) -> None:
    images = tmp_path / "cache" / "images"
    images.mkdir(parents=True)
    made = []
    for number in range(5):
        path = images / f"docker.io_x_app_dev-v1-{number:012d}.oci.tar"
        path.write_bytes(b"")
        os.utime(path, (1000 + number, 1000 + number))
        made.append(path)
    other = images / "docker.io_library_busybox_latest-v3.oci.tar"
    other.write_bytes(b"")
    os.utime(other, (1, 1))
    removed = prune_builds(RECIPE, tmp_path / "cache")
    assert sorted(removed) == made[:2]
    assert sorted(images.glob("*.oci.tar")) == sorted([*made[2:], other])


def test_every_name_of_an_image_is_served_and_a_newer_build_wins(tmp_path: Path) -> None:
    images = tmp_path / "images"
    layer = write_layer([Entry("v.txt", data=b"old\n")], tmp_path / "old.tar")
    names = ("docker.io/library/hello:latest", "docker.io/library/hello:1.36")
    old = write_oci_archive(names, [layer], ImageConfig(cmd=("sh",)), images / "b-old.oci.tar")
    store = Store(images)
    for tag in ("latest", "1.36"):
        found = store.manifest("docker.io", "library/hello", tag)
        assert found is not None
        assert found[0] == old
    os.utime(images / "b-old.oci.tar", (1000, 1000))
    layer = write_layer([Entry("v.txt", data=b"new\n")], tmp_path / "new.tar")
    new = write_oci_archive(names[0], [layer], ImageConfig(cmd=("sh",)), images / "a-new.oci.tar")
    found = store.manifest("docker.io", "library/hello", "latest")
    assert found is not None
    assert found[0] == new, "the newer archive's image, though its file name sorts first"
    found = store.manifest("docker.io", "library/hello", "1.36")
    assert found is not None
    assert found[0] == old


def test_the_prometheus_image_is_named_by_the_upstream_version_of_debians_package() -> None:
    assert debian_upstream_version(Path("prometheus_2.53.3+ds1-2_amd64.deb")) == "2.53.3"
    assert debian_upstream_version(Path("prometheus_2.42.0+ds-5+deb12u1_amd64.deb")) == "2.42.0"
    assert debian_upstream_version(Path("etcd-server_1%3a3.4.23-4_amd64.deb")) == "3.4.23"
    assert find_recipe("prom/prometheus:v2.53.3").name == PROMETHEUS_IMAGE


def test_a_private_apt_for_another_suite_reads_only_that_suite(tmp_path: Path) -> None:
    apt = PrivateApt(tmp_path / "apt", "trixie")
    apt.write_config()
    sources = (tmp_path / "apt" / "etc" / "sources.list").read_text().splitlines()
    assert [line.split()[-2] for line in sources] == ["trixie", "trixie"]
    assert PrivateApt(tmp_path / "default").suite == SUITE
