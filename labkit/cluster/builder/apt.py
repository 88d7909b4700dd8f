"""apt under a private configuration: its own sources (with deb-src), state and cache; no root needed.

The system's apt sources, lists and dpkg database are never touched: everything lives under ``root``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.builder.logged import run_logged
from labkit.cluster.errors import ClusterError

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@dataclass(frozen=True)
class PrivateApt:
    """An apt configuration rooted at ``root`` that reads Debian ``suite`` main, binaries and sources."""

    root: Path
    suite: str = SUITE

    @property
    def config_file(self) -> Path:
        return self.root / "apt.conf"

    def write_config(self) -> None:
        """Create the directories, the sources list and the apt.conf this configuration uses."""
        etc, state, cache = self.root / "etc", self.root / "state", self.root / "cache"
        for directory in (
            etc / "apt.conf.d",
            etc / "sources.list.d",
            etc / "preferences.d",
            etc / "trusted.gpg.d",
            state / "lists" / "partial",
            cache / "archives" / "partial",
        ):
            directory.mkdir(parents=True, exist_ok=True)
        (state / "status").touch()
        signed_by = f"[signed-by={KEYRING}]"
        (etc / "sources.list").write_text(
            f"deb {signed_by} {MIRROR} {self.suite} main\ndeb-src {signed_by} {MIRROR} {self.suite} main\n"
        )
        self.config_file.write_text(
            "\n".join(
                [
                    f'Dir::Etc "{etc}";',
                    f'Dir::Etc::sourcelist "{etc / "sources.list"}";',
                    f'Dir::Etc::sourceparts "{etc / "sources.list.d"}";',
                    f'Dir::Etc::parts "{etc / "apt.conf.d"}";',
                    f'Dir::Etc::preferencesparts "{etc / "preferences.d"}";',
                    f'Dir::Etc::trustedparts "{etc / "trusted.gpg.d"}";',
                    f'Dir::State "{state}";',
                    f'Dir::State::status "{state / "status"}";',
                    f'Dir::Cache "{cache}";',
                    'Debug::NoLocking "true";',
                    'APT::Sandbox::User "root";',
                    "",
                ]
            )
        )

    def run(self, args: list[str], cwd: Path, log: Path) -> None:
        """Run an apt command under this configuration in ``cwd``, logged to ``log``."""
        run_logged(args, log, cwd, dict(os.environ, APT_CONFIG=str(self.config_file), LC_ALL="C"))

    def update(self, log: Path) -> None:
        """Download the package and source indexes of the private configuration."""
        self.write_config()
        self.run(["apt-get", "update"], self.root, log)

    def download_source(self, package: str, destination: Path, log: Path) -> None:
        """Download (without unpacking) a source package's files into ``destination``."""
        destination.mkdir(parents=True, exist_ok=True)
        self.run(["apt-get", "source", "--download-only", package], destination, log)

    def download(self, package: str, destination: Path, log: Path) -> Path:
        """Download a binary package's .deb into ``destination`` and return its path."""
        destination.mkdir(parents=True, exist_ok=True)
        self.run(["apt-get", "download", package], destination, log)
        debs = sorted(destination.glob(f"{package}_*.deb"), key=lambda path: path.stat().st_mtime)
        if not debs:
            raise ClusterError(f"apt-get download {package} left no .deb in {destination}; see {log}")
        return debs[-1]


def extract_deb(deb: Path, destination: Path, log: Path) -> None:
    """Unpack a .deb's files into ``destination`` with ``dpkg -x`` (no installation, no root)."""
    destination.mkdir(parents=True, exist_ok=True)
    run_logged(["dpkg", "-x", str(deb), str(destination)], log)
