"""Container images → local commands. Only a few images exist on this "node"; the rest fail to pull."""

from __future__ import annotations

import glob
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POSTGRES_ENTRYPOINT = Path(__file__).with_name("postgres_entrypoint.sh")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PYTHON_NAMES = {"python", "python3", "/usr/local/bin/python", "/usr/local/bin/python3", "/usr/bin/python3"}


class ImagePullError(Exception):
    """The image cannot be "pulled": reason is ErrImagePull or ErrImageNeverPull."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class LocalImage:
    """What an image means on this node: its ENTRYPOINT/CMD as local programs and its forced env."""

    kind: str
    entrypoint: list[str]
    cmd: list[str]
    path: str = DEFAULT_PATH
    forced_env: dict[str, str] = field(default_factory=dict)
    image_id: str = ""
    private_dirs: list[str] = field(default_factory=list)

    def argv(self, command: list[str], args: list[str]) -> list[str]:
        """Docker's rule: ``command`` replaces ENTRYPOINT (and drops CMD), ``args`` replaces CMD."""
        words = command + args if command else self.entrypoint + (args if args else self.cmd)
        if self.kind == "registry" and words and words[0] in PYTHON_NAMES:
            words = [sys.executable, *words[1:]]
        return words


def image_name(image: str) -> str:
    """The repository part of an image reference, without registry host, ``library/``, tag or digest."""
    ref = image.split("@", 1)[0]
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    last = parts[-1].split(":", 1)[0]
    parts[-1] = last
    if parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def postgres_bin_dir() -> str | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout), if any."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4] or 0)
    )
    return str(Path(candidates[-1]).parent) if candidates else None


def resolve_image(container: Mapping[str, Any], pod_ip: str) -> LocalImage:
    """The local meaning of the container's image, or ImagePullError as a real node would report it."""
    image = str(container.get("image") or "")
    name = image_name(image)
    venv_bin = str(Path(sys.executable).parent)
    if name == "mcp-mesh/registry":
        return LocalImage(
            kind="registry",
            entrypoint=["python", "-m", "registry"],
            cmd=[],
            path=f"{venv_bin}:{DEFAULT_PATH}",
            forced_env={"REGISTRY_HOST": pod_ip, "PYTHONUNBUFFERED": "1"},
            image_id=f"labkit://mcp-mesh/registry@{Path(__file__).resolve().parents[3]}",
        )
    if name == "busybox":
        return LocalImage(kind="tools", entrypoint=[], cmd=["sh"], image_id="labkit://busybox@host")
    if name == "curlimages/curl":
        return LocalImage(kind="tools", entrypoint=["curl"], cmd=[], image_id="labkit://curl@host")
    if name == "postgres":
        bin_dir = postgres_bin_dir()
        if bin_dir is not None:
            return LocalImage(
                kind="postgres",
                entrypoint=["/bin/bash", str(POSTGRES_ENTRYPOINT)],
                cmd=["postgres"],
                path=f"{bin_dir}:{DEFAULT_PATH}",
                forced_env={"LABKIT_POD_IP": pod_ip},
                image_id=f"labkit://postgres@{bin_dir}",
                private_dirs=["/var/run/postgresql"],
            )
    if str(container.get("imagePullPolicy") or "") == "Never":
        raise ImagePullError(
            "ErrImageNeverPull",
            f'Container image "{image}" is not present with pull policy of Never',
        )
    raise ImagePullError(
        "ErrImagePull",
        f'Failed to pull image "{image}": rpc error: code = Unknown desc = failed to pull and unpack '
        f'image "{image}": the labkit local node only runs mcp-mesh/registry, postgres, busybox and '
        "curlimages/curl",
    )
