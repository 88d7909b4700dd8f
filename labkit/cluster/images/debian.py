"""Root file systems from Debian's packages, made with Debian's ``mmdebstrap`` and cached as tars.

Each tar is also an image layer, shared (same digest) by every image built on it. ``mmdebstrap`` itself
is downloaded and unpacked like the node's other packages; it runs as root in its ``root`` mode.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.builder.apt import MIRROR, SUITE
from labkit.cluster.builder.logged import run_logged
from labkit.cluster.errors import ClusterError, MissingPrerequisite


@dataclass(frozen=True)
class RootfsRecipe:
    """A Debian root file system: ``minbase`` plus ``packages``, then ``customize`` shell commands run
    with the root file system's path in ``$1``."""

    name: str
    packages: tuple[str, ...]
    customize: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        text = "\n".join([SUITE, *self.packages, "--", *self.customize])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


BASE = RootfsRecipe(
    "debian-base",
    ("python3", "python3-venv", "sqlite3", "wget", "curl", "ca-certificates", "procps"),
    ('rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*',),
)
POSTGRES = RootfsRecipe(
    "debian-postgres",
    ("postgresql-15", "procps"),
    (
        # Debian's package makes a cluster at install time; the image makes PGDATA at first start.
        'rm -rf "$1"/var/lib/postgresql/15 "$1"/etc/postgresql/15',
        'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*',
    ),
)


def rootfs_tar(recipe: RootfsRecipe, mmdebstrap: Path, folder: Path, log: Path) -> Path:
    """The recipe's root file system tar in ``folder``, made once with ``mmdebstrap``."""
    output = folder / f"{recipe.name}-{recipe.key}.tar"
    if output.is_file():
        return output
    if shutil.which("perl") is None:
        raise MissingPrerequisite(
            "the program `perl` (mmdebstrap is a Perl program)", "sudo apt-get install perl"
        )
    folder.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial.tar")
    hooks = [f"--customize-hook={command}" for command in recipe.customize]
    argv = ["perl", str(mmdebstrap), "--mode=root", "--variant=minbase", "--format=tar"]
    argv += [f"--include={','.join(recipe.packages)}", *hooks, SUITE, str(partial), MIRROR]
    try:
        run_logged(argv, log)
    except ClusterError as error:
        raise ClusterError(
            f"mmdebstrap could not make {recipe.name} from {', '.join(recipe.packages)}: {error}"
        ) from error
    partial.replace(output)
    return output


def read_member(tar: Path, name: str) -> bytes:
    """One file's bytes from a root file system tar (``./etc/passwd`` or ``etc/passwd``)."""
    with tarfile.open(tar) as archive:
        for candidate in (f"./{name}", name):
            try:
                member = archive.extractfile(candidate)
            except KeyError:
                continue
            if member is not None:
                return member.read()
    raise ClusterError(f"{tar} has no {name}")


def extracted(tar: Path, work: Path) -> Path:
    """``tar`` unpacked into a new folder under ``work`` (owners and modes kept)."""
    target = Path(tempfile.mkdtemp(dir=work))
    with tarfile.open(tar) as archive:
        archive.extractall(target, filter="fully_trusted")
    return target
