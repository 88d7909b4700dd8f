"""Build an image from a Dockerfile without a Docker engine: the instructions the kit's own Dockerfiles
use, run the way ``docker build`` runs them, each ``RUN`` in a chroot of the stage's root file system.

Supported: ``FROM image [AS name]`` (multi-stage), ``WORKDIR``, ``COPY [--from=stage] src... dest``,
``RUN`` (shell and JSON forms), ``ENV``, ``USER``, ``EXPOSE``, ``VOLUME``, ``CMD``, ``ENTRYPOINT``,
``STOPSIGNAL``, ``LABEL`` and ``HEALTHCHECK`` (recorded; Kubernetes ignores it). Anything else is refused
with the line that uses it. ``FROM`` names resolve through ``bases``: a local stand-in root file system
for each public base image (no registry is reachable).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from labkit.cluster.builder.logged import run_logged
from labkit.cluster.errors import ClusterError
from labkit.cluster.images.oci import ImageConfig

HOST_FILES = ("/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """The Dockerfile's stages (line continuations joined, comments dropped)."""
    stages: list[Stage] = []
    logical = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if not logical:
            start = number
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), start)
        logical = ""
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(words[0], name))
        elif not stages:
            raise ClusterError(f"Dockerfile line {start}: {keyword} before FROM")
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise ClusterError("the Dockerfile has no FROM")
    return stages


def _json_or_shell(arguments: str) -> tuple[str, ...]:
    if arguments.startswith("["):
        return tuple(json.loads(arguments))
    return ("/bin/sh", "-c", arguments)


def _env_pairs(arguments: str) -> dict[str, str]:
    words = shlex.split(arguments)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def _chroot_run(
    rootfs: Path, workdir: str, env: Mapping[str, str], user: str, argv: tuple[str, ...], log: Path
) -> None:
    """Run ``argv`` in a chroot of ``rootfs`` with /proc, /dev, the machine's DNS and CA bundle, in a
    private mount namespace (the mounts vanish with the command)."""
    # The machine's DNS and CA bundle (this workplace reaches package registries through its own CA),
    # bind-mounted for the command only: the image keeps its own files.
    binds = ""
    for host_file in HOST_FILES:
        inside = rootfs / host_file.lstrip("/")
        if Path(host_file).is_file():
            if inside.is_symlink():
                inside.unlink()
            inside.parent.mkdir(parents=True, exist_ok=True)
            inside.touch()
            binds += f"mount --bind {shlex.quote(host_file)} {shlex.quote(str(inside))} && "
    env_args = [f"{key}={value}" for key, value in env.items()]
    inner = ["env", "-i", *env_args, *argv]
    if user and user not in ("0", "root", "0:0"):
        inner = [
            "setpriv",
            f"--reuid={user.split(':')[0]}",
            f"--regid={user.split(':')[-1]}",
            "--clear-groups",
            *inner,
        ]
    command = f"cd {shlex.quote(workdir)} && exec {shlex.join(inner)}"
    root = shlex.quote(str(rootfs))
    script = (
        f"{binds}mount --rbind /dev {root}/dev && mount -t proc proc {root}/proc && "
        f"exec chroot {root} /bin/sh -c {shlex.quote(command)}"
    )
    (rootfs / "dev").mkdir(exist_ok=True)
    (rootfs / "proc").mkdir(exist_ok=True)
    run_logged(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], log)


def _copy(sources: list[Path], destination: Path, into: bool) -> None:
    """Docker's COPY: a folder's contents go to ``destination``; files go into it when ``into``."""
    if into:
        destination.mkdir(parents=True, exist_ok=True)
    for source in sources:
        if not source.exists():
            raise ClusterError(f"COPY: {source} does not exist")
        if source.is_dir():
            shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True)
        else:
            target = destination / source.name if into or destination.is_dir() else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def build(
    dockerfile: Path, context: Path, bases: Mapping[str, Path], work: Path, log: Path
) -> tuple[Path, ImageConfig]:
    """Build every stage into folders under ``work``; returns the last stage's root file system and its
    config. ``bases`` maps a FROM name to a root file system tar."""
    stages = parse(dockerfile.read_text())
    roots: dict[str, Path] = {}
    configs: dict[str, ImageConfig] = {}
    config = ImageConfig()
    rootfs = work
    for index, stage in enumerate(stages):
        rootfs = work / f"stage-{index}"
        if stage.base in roots:
            shutil.copytree(roots[stage.base], rootfs, symlinks=True)
            config = configs[stage.base]
        elif stage.base in bases:
            rootfs.mkdir(parents=True)
            with tarfile.open(bases[stage.base]) as archive:
                archive.extractall(rootfs, filter="fully_trusted")
            config = ImageConfig()
        else:
            known = ", ".join(sorted(bases))
            raise ClusterError(
                f"Dockerfile FROM {stage.base}: no local stand-in for it (labkit has: {known})"
            )
        env = dict(item.split("=", 1) for item in config.env)
        workdir = config.working_dir or "/"
        user = config.user
        for instruction in stage.instructions:
            keyword, arguments = instruction.keyword, instruction.arguments
            if keyword == "WORKDIR":
                workdir = os.path.join(workdir, arguments)
                (rootfs / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                words = shlex.split(arguments)
                source_root = context
                if words[0].startswith("--from="):
                    source_root = roots[words.pop(0).split("=", 1)[1]]
                *sources, target = words
                destination = rootfs / os.path.join(workdir, target).lstrip("/")
                paths = [source_root / source.lstrip("/") for source in sources]
                _copy(paths, destination, into=len(paths) > 1 or target.endswith("/"))
            elif keyword == "RUN":
                _chroot_run(rootfs, workdir, env, user, _json_or_shell(arguments), log)
            elif keyword == "ENV":
                env.update(_env_pairs(arguments))
            elif keyword == "USER":
                user = arguments
            elif keyword == "EXPOSE":
                ports = tuple(p if "/" in p else f"{p}/tcp" for p in arguments.split())
                config = replace(config, exposed_ports=config.exposed_ports + ports)
            elif keyword == "VOLUME":
                volumes = (
                    tuple(json.loads(arguments)) if arguments.startswith("[") else tuple(arguments.split())
                )
                config = replace(config, volumes=config.volumes + volumes)
            elif keyword == "CMD":
                config = replace(config, cmd=_json_or_shell(arguments))
            elif keyword == "ENTRYPOINT":
                config = replace(config, entrypoint=_json_or_shell(arguments), cmd=())
            elif keyword == "STOPSIGNAL":
                config = replace(config, stop_signal=arguments)
            elif keyword == "HEALTHCHECK":
                pass  # Kubernetes does not run image health checks: probes are the pod's
            elif keyword == "LABEL":
                config = replace(config, labels={**config.labels, **_env_pairs(arguments)})
            else:
                raise ClusterError(
                    f"Dockerfile line {instruction.line}: labkit's builder does not support {keyword}"
                )
        config = replace(
            config, env=tuple(f"{key}={value}" for key, value in env.items()), working_dir=workdir, user=user
        )
        roots[stage.name] = rootfs
        configs[stage.name] = config
    return rootfs, config
