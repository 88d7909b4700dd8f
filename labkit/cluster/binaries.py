"""Find the cluster's binaries, or build them once into labkit's cache.

Each of ``etcd``, ``kube-apiserver``, ``kube-controller-manager`` and ``kube-scheduler`` is taken, in
order, from the directory the user names (``bin_dir=`` or ``LABKIT_BIN_DIR``), from ``PATH``, or from
labkit's cache (``$XDG_CACHE_HOME/labkit/bin/v1.20.2``). Whatever is still missing is built into the
cache (see ``labkit.cluster.builder``), once, under a file lock so two sessions never build at the same time.

The real node's ``kubelet``, ``kube-proxy`` and ``kubectl`` (``NODE_COMPONENTS``) come from the same
source and cache, but never from ``PATH``: a kubectl there is usually of another minor version, and a
kubelet of another version must not join this v1.20 control plane.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.builder.apt import PrivateApt
from labkit.cluster.builder.etcd import fetch_etcd
from labkit.cluster.builder.kubernetes import KUBERNETES_VERSION, KubernetesBuild
from labkit.cluster.builder.toolchain import check_host_tools, go_root
from labkit.cluster.locks import exclusive_lock
from labkit.cluster.paths import cache_root

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_COMPONENTS = ("kubelet", "kube-proxy", "kubectl")
KUBERNETES_COMPONENTS = (*COMPONENTS[1:], *NODE_COMPONENTS)
BIN_DIR_VARIABLE = "LABKIT_BIN_DIR"


@dataclass(frozen=True)
class Binary:
    """Where one component's executable was found and by which rule (``bin_dir``, ``PATH``, ``cache``)."""

    name: str
    path: Path
    source: str


def cached_bin_dir(cache: Path | None = None) -> Path:
    """The folder inside labkit's cache that holds the built binaries."""
    return (cache or cache_root()) / "bin" / KUBERNETES_VERSION


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(
    name: str, bin_dir: Path | None = None, search_path: str | None = None, cache: Path | None = None
) -> Binary | None:
    """The first executable ``name`` in bin_dir, then on the search path (not for the node's
    components), then in the cache; else None."""
    if bin_dir is not None and _executable(bin_dir / name):
        return Binary(name, bin_dir / name, "bin_dir")
    on_path = None
    if name not in NODE_COMPONENTS:
        on_path = shutil.which(name, path=search_path if search_path is not None else os.environ.get("PATH"))
    if on_path:
        return Binary(name, Path(on_path), "PATH")
    in_cache = cached_bin_dir(cache) / name
    if _executable(in_cache):
        return Binary(name, in_cache, "cache")
    return None


def user_bin_dir(bin_dir: str | os.PathLike[str] | None) -> Path | None:
    """The directory the user named: the argument, else ``LABKIT_BIN_DIR``, else None."""
    chosen = bin_dir if bin_dir is not None else os.environ.get(BIN_DIR_VARIABLE)
    return Path(chosen).expanduser() if chosen else None


def resolve_binaries(
    bin_dir: Path | None = None,
    search_path: str | None = None,
    cache: Path | None = None,
    names: tuple[str, ...] = COMPONENTS,
) -> tuple[dict[str, Binary], list[str]]:
    """Every component of ``names`` found (by name) and the names of those that are missing."""
    found: dict[str, Binary] = {}
    missing: list[str] = []
    for name in names:
        binary = find_binary(name, bin_dir, search_path, cache)
        if binary is None:
            missing.append(name)
        else:
            found[name] = binary
    return found, missing


Step = tuple[str, Callable[[], object]]


def build_steps(missing: list[str], cache: Path, log: Path) -> list[Step]:
    """The ordered steps that put every missing component into the cache."""
    apt = PrivateApt(cache / "apt")
    kubernetes = KubernetesBuild(cache, log)
    destination = cached_bin_dir(cache)
    steps: list[Step] = [("apt-get update (private configuration)", lambda: apt.update(log))]
    if "etcd" in missing:
        etcd = functools.partial(fetch_etcd, apt, kubernetes.downloads, destination, log)
        steps.append(("etcd from Debian's etcd-server", etcd))
    wanted = [name for name in KUBERNETES_COMPONENTS if name in missing]
    if wanted:
        steps += [
            ("Kubernetes v1.20.2 source (apt-get source kubernetes)", lambda: kubernetes.fetch_source(apt)),
            ("vendored reflect2 -> v1.0.2", lambda: kubernetes.replace_reflect2(apt)),
            ("labkit's local-build patches", kubernetes.patch_source),
            ("make gen_openapi", kubernetes.generate_openapi),
        ]
        for name in wanted:
            steps.append((f"go build {name}", functools.partial(kubernetes.compile, name, destination)))
    return steps


def build_missing(missing: list[str], cache: Path | None = None, progress: bool = True) -> float:
    """Build the missing components into the cache; returns the seconds it took."""
    cache = cache or cache_root()
    check_host_tools()
    if any(name in missing for name in KUBERNETES_COMPONENTS):
        go_root()
    log = cache / "build.log"
    started = time.monotonic()
    with exclusive_lock(cache / "build.lock"):
        # Another session may have finished the build while this one waited for the lock.
        still_missing = [name for name in missing if not _executable(cached_bin_dir(cache) / name)]
        steps = build_steps(still_missing, cache, log) if still_missing else []
        from tqdm.auto import tqdm

        with tqdm(
            total=len(steps), disable=not progress or not steps, unit="step", desc="labkit build"
        ) as bar:
            if steps and progress:
                bar.write(f"labkit: building {', '.join(still_missing)} once into {cached_bin_dir(cache)}")
                bar.write(f"labkit: this takes several minutes on 2 cores; the full log is {log}")
            for description, action in steps:
                bar.set_postfix_str(description)
                step_started = time.monotonic()
                action()
                with log.open("a") as out:
                    out.write(f"\n== {description}: {time.monotonic() - step_started:.0f}s\n")
                bar.update(1)
    return time.monotonic() - started


def ensure_binaries(
    bin_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    cache: Path | None = None,
    names: tuple[str, ...] = COMPONENTS,
) -> dict[str, Binary]:
    """Every component's binary (the control plane's by default), building the missing ones first."""
    chosen = user_bin_dir(bin_dir)
    found, missing = resolve_binaries(chosen, cache=cache, names=names)
    if missing:
        build_missing(missing, cache, progress)
        found, missing = resolve_binaries(chosen, cache=cache, names=names)
    if missing:  # pragma: no cover - the build raises before this
        raise RuntimeError(f"the build did not produce {', '.join(missing)}")
    return found
