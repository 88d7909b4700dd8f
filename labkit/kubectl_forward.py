"""``kubectl port-forward`` as a context manager: the real process, as an attendee types it.

For the lessons' "try it in the terminal" steps, and for load: kubectl multiplexes every connection over
one connection to the API server, where ``lab.port_forward`` opens a stream per connection (which follows
a failover, but makes each new connection wait for its own stream).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from labkit.errors import LabError

if TYPE_CHECKING:
    from labkit.lab import Lab

FORWARDING_LINE = re.compile(r"Forwarding from (127\.0\.0\.1|\[::1\]):(\d+) ->")


@contextlib.contextmanager
def kubectl_forward(command: list[str], env: dict[str, str], timeout: float = 30.0) -> Iterator[str]:
    """Run ``kubectl port-forward ... :PORT``, wait for its "Forwarding from" line, yield the URL."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    try:
        port = wait_forwarding_port(proc, timeout)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def kubectl_port_forward(lab: Lab, ref: str, port: int | str, local: int | None = None) -> Iterator[str]:
    """``kubectl port-forward REF [LOCAL]:PORT`` on the lab's cluster and namespace; yield its URL."""
    command = lab.kubectl_command("port-forward", ref, f"{local or ''}:{port}")
    with kubectl_forward(command, {"KUBECONFIG": lab.kubeconfig}) as url:
        yield url


def wait_forwarding_port(proc: subprocess.Popen[str], timeout: float) -> int:
    """Read kubectl's output until it names the local port; raise LabError if it exits or takes too long."""
    assert proc.stdout is not None
    found: list[int] = []
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.strip())
            match = FORWARDING_LINE.search(line)
            if match:
                found.append(int(match.group(2)))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if found:
        # keep draining kubectl's output so its pipe never fills up
        threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
        return found[0]
    last = seen[-1] if seen else "no output"
    if not reader.is_alive():  # kubectl closed its output: it is exiting
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    if proc.poll() is not None:
        raise LabError(f"kubectl port-forward exited with status {proc.returncode}: {last}")
    raise LabError(f"kubectl port-forward did not start forwarding within {timeout:g}s: {last}")
