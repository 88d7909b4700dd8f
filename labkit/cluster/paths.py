"""Where the local cluster keeps its files: binaries in the user's cache, state in the user's state dir.

Both live outside the checkout, following the XDG base directory conventions.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """labkit's cache: ``$XDG_CACHE_HOME/labkit`` or ``~/.cache/labkit``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labkit"


def default_state_dir() -> Path:
    """The local cluster's state: ``$XDG_STATE_HOME/labkit/cluster`` or ``~/.local/state/labkit/cluster``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labkit" / "cluster"
