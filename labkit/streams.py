"""Streams into pods through the API server, the way a person types them: ``kubectl exec`` and the
kubectl that matches the cluster.

On the local cluster exec goes through the API server and the kubelet, as on kind, with labkit's v1.20
kubectl (the server's minor version: the kit's kubectl is far outside kubectl's supported version skew).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from labkit.errors import BadParameter, KubectlFailed
from labkit.paths import kubectl_path


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container gave: its exit status and its output."""

    returncode: int
    stdout: str
    stderr: str


def server_kubectl(server_version: str) -> str | None:
    """labkit's build of kubectl for the server's minor version, when it has one (v1.20), else None."""
    if not server_version.startswith("v1.20"):
        return None
    from labkit.cluster.binaries import cached_bin_dir

    binary = cached_bin_dir() / "kubectl"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None


def kubectl_for(local: bool, kubeconfig: str, context: str | None, server_version: str) -> str:
    """The kubectl for a lab: the server-minor one on the local cluster (when built), else the kit's."""
    if local:
        chosen = server_kubectl(server_version)
        if chosen:
            return chosen
    return kubectl_path()


def exec_in_pod(
    kubectl_command: Sequence[str],
    env: dict[str, str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 60.0,
) -> ExecResult:
    """Run ``kubectl exec`` (``kubectl_command`` is its full command line) and collect what it gave.

    With ``check`` a non-zero exit raises KubectlFailed naming the status and kubectl's last message.
    """
    try:
        result = subprocess.run(
            list(kubectl_command),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env},
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise KubectlFailed(f"kubectl exec did not finish within {timeout:g}s") from error
    # kubectl exits 1 on its own errors and passes the command's status through otherwise.
    if check and result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        message = lines[-1] if lines else "no output"
        raise KubectlFailed(f"exec failed (exit {result.returncode}): {message}")
    return ExecResult(result.returncode, result.stdout, result.stderr)


def exec_arguments(pod: str, command: Sequence[str], container: str | None, stdin: bool) -> list[str]:
    """``kubectl exec`` arguments for one pod; a bad command is refused before anything runs."""
    if isinstance(command, str) or not command or not all(isinstance(part, str) for part in command):
        raise BadParameter(f"command must be a non-empty list of strings, not {command!r}")
    arguments = ["exec", *(["-i"] if stdin else []), pod]
    if container is not None:
        arguments += ["-c", container]
    return [*arguments, "--", *command]
