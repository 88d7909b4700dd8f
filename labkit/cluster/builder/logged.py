"""Run a build command with its output appended to the build log; a failure names the log's last lines."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from labkit.cluster.errors import ClusterError


def tail(log: Path, lines: int = 3) -> str:
    """The last lines of a log, joined on one line, for an error message."""
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def run_logged(
    args: list[str], log: Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> None:
    """Run ``args`` with output appended to ``log``; raise ClusterError naming the command on failure."""
    command = " ".join(args)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {command}  (in {cwd or Path.cwd()})\n".encode())
        out.flush()
        result = subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise ClusterError(f"`{command}` failed (exit {result.returncode}); see {log}: {tail(log)}")
