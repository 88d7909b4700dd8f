"""Debian's ``prometheus`` and ``promtool`` for the tests: found on PATH, else a skip (a failure under CI)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import running_in_ci

INSTALL = "make prometheus (as root: apt-get install -y --no-install-recommends prometheus)"


def require_tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; skip (or, under CI=true, fail) when it is missing."""
    found = shutil.which(name)
    if found is not None:
        return found
    reason = f"{name} is not installed: {INSTALL}"
    if running_in_ci():
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(reason)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args`` (and ``stdin``); its exit status and output are the caller's to judge."""
    return subprocess.run(
        [require_tool("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=120
    )
