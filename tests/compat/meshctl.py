"""Run the real ``meshctl`` against a registry, and reduce its output to what two registries must share.

``meshctl`` writes under ``$HOME/.mcp-mesh``, so every run gets the caller's temporary HOME. What
legitimately differs between two meshes (agent id suffixes, ports, job and trace ids, times, ages) is
replaced by placeholders, so the rest can be compared line by line.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PLACEHOLDERS = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b(assistant|greeter|counter|dispatcher)-[0-9a-f]{8}\b"), r"\1-<id>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"\b\d{10}\b"), "<epoch>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<trace>"),
    (re.compile(r"\(\d+[smhd] ago\)"), "(<age> ago)"),
    (re.compile(r"(?<=\s)\d+(\.\d+)?(ms|s|m|h|d)(?=\s|$)"), "<age>"),
    (re.compile(r"[ \t]+"), " "),
)


@dataclass(frozen=True)
class MeshctlRun:
    """One finished ``meshctl`` command."""

    args: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr together, colour codes removed

    def normalised(self) -> list[str]:
        """The output with what differs between meshes replaced, blank lines dropped."""
        text = self.output
        for pattern, replacement in PLACEHOLDERS:
            text = pattern.sub(replacement, text)
        return [line.rstrip() for line in text.splitlines() if line.strip()]


def run_meshctl(binary: Path, registry_url: str, home: Path, *args: str, timeout: float = 90) -> MeshctlRun:
    """``meshctl ARGS --registry-url URL`` with HOME set to ``home``."""
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    result = subprocess.run(
        [str(binary), *args, "--registry-url", registry_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return MeshctlRun(tuple(args), result.returncode, ANSI.sub("", result.stdout + result.stderr))
