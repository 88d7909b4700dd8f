"""Start real server processes for tests: this checkout's registry (``python -m registry``) on loopback."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now, chosen BELOW the kernel's ephemeral range.

    A port from the ephemeral range (what binding port 0 gives) can be handed to some outgoing connection
    between this call and the moment the server binds it; servers started by tests then fall back to
    another port or fail. Ports below the range are never used for outgoing connections.
    """
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randint(max(1025, low - 12000), low - 1)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # everything tried was busy: let the kernel choose
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningProcess:
    """A server process started for a test, with its URL and its captured output."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        """Everything the process has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        """Send a signal to the process."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit and return its exit status."""
        return self.proc.wait(timeout=timeout)


def wait_http_ok(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll url until it answers 2xx; raise with a clear message on timeout or early exit."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with status {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if 200 <= response.status < 300:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 2xx within {timeout}s: {last_error}")


@contextlib.contextmanager
def run_registry(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    startup_timeout: float = 20.0,
) -> Iterator[RunningProcess]:
    """Run ``python -m registry`` on free loopback ports with a SQLite file under tmp_path.

    ``env`` overrides the defaults (for example DATABASE_TYPE, AGENT_TIMEOUT). The process is
    stopped with SIGTERM (then SIGKILL) when the block ends, unless the test already stopped it.
    """
    port, metrics_port = free_port(), free_port()
    full_env = {
        **os.environ,
        "REGISTRY_HOST": "127.0.0.1",
        "REGISTRY_PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "DATABASE_PATH": str(tmp_path / "registry.db"),
        "LOG_LEVEL": "info",
        **(env or {}),
    }
    log_path = tmp_path / f"registry-{port}.log"
    command = [sys.executable, "-m", "registry"]
    with run_server(command, REPO_ROOT, full_env, log_path, port, startup_timeout) as running:
        yield running


@contextlib.contextmanager
def run_server(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    port: int,
    startup_timeout: float,
    ready_path: str = "/health",
) -> Iterator[RunningProcess]:
    """Start a server process, wait until ``ready_path`` answers on loopback, and stop it afterwards.

    Output goes to log_path (printed when the process died early). On exit: SIGTERM, then SIGKILL
    after 15 s, unless the test already stopped the process.
    """
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    running = RunningProcess(proc=proc, url=f"http://127.0.0.1:{port}", log_path=log_path, env=env)
    try:
        wait_http_ok(running.url + ready_path, startup_timeout, proc)
        yield running
    except BaseException:
        if proc.poll() is not None:
            print(running.log())
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
