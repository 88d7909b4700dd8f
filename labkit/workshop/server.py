"""JupyterLab for the workshop: bound to loopback with a token, no first-run prompts, one per working copy.

A record beside the cluster's state (pid, URL) lets a second ``labkit jupyter`` print the running URL
instead of starting another server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from labkit.errors import BadParameter, LabError
from labkit.progress import progress_bar

HOST = "127.0.0.1"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# The notification plugin asks every new user whether to fetch Jupyter's news; attendees never see it.
QUIET_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass
class RunningLab:
    """A started JupyterLab: its process, port, token and working copy."""

    pid: int
    port: int
    token: str
    workdir: str
    log: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/lab?token={self.token}"


def state_file(state_root: Path, workdir: Path) -> Path:
    """Where the record of the JupyterLab serving this working copy lives."""
    key = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:12]
    return state_root / "jupyter" / f"lab-{key}.json"


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def choose_port(port: int | None) -> int:
    """The --port when it is free, or a free port."""
    if port is None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            return int(probe.getsockname()[1])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadParameter(f"--port must be a port number from 1 to 65535, not {port!r}")
    if port_in_use(port):
        raise LabError(
            f"port {port} on {HOST} is in use by another program: pick another with --port, "
            "or leave --port out for a free one"
        )
    return port


def answers(lab: RunningLab, timeout: float = 2.0) -> bool:
    """Whether the server answers its status API with the token."""
    import httpx

    try:
        response = httpx.get(
            f"http://{HOST}:{lab.port}/api/status", params={"token": lab.token}, timeout=timeout
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_lab(record: Path) -> RunningLab | None:
    """The JupyterLab of the record when its process lives and answers, else None (a stale record goes)."""
    try:
        lab = RunningLab(**json.loads(record.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if pid_alive(lab.pid) and answers(lab):
        return lab
    with contextlib.suppress(OSError):
        record.unlink()
    return None


def write_quiet_settings(settings_dir: Path) -> None:
    """User settings that silence JupyterLab's first-run news question."""
    for relative, values in QUIET_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1) + "\n")


def terminal_shell() -> list[str]:
    """The shell a JupyterLab terminal runs: the user's, not as a login shell. Started without a tty
    (a service, a test) JupyterLab would add ``-l``, and a login shell's /etc/profile resets PATH, so
    the terminal would lose the lab's kubectl (the server's version) that labkit put first on it."""
    return [os.environ.get("SHELL") or "/bin/sh"]


def lab_command(port: int, token: str, workdir: Path, settings_dir: Path, workspaces_dir: Path) -> list[str]:
    """The JupyterLab command line (as root it must be told that root is fine)."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workdir}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={workspaces_dir}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--ServerApp.terminado_settings=" + json.dumps({"shell_command": terminal_shell()}),
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


def start_lab(
    workdir: Path, port: int, env: dict[str, str], record: Path, log_path: Path, *, progress: bool = True
) -> tuple[RunningLab, subprocess.Popen[bytes]]:
    """Start JupyterLab in its own session (Ctrl-C reaches labkit, which stops it); wait until it answers."""
    token = secrets.token_hex(24)
    hidden = workdir / ".jupyter"
    write_quiet_settings(hidden / "user-settings")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            lab_command(port, token, workdir, hidden / "user-settings", hidden / "workspaces"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    lab = RunningLab(process.pid, port, token, str(workdir), str(log_path))
    started = time.monotonic()
    with progress_bar(
        total=round(START_TIMEOUT), desc="JupyterLab starting", unit="s", disable=not progress, leave=False
    ) as bar:
        while not answers(lab, timeout=1.0):
            if process.poll() is not None:
                raise LabError(f"JupyterLab exited at start ({process.returncode}); its log: {log_path}")
            if time.monotonic() - started > START_TIMEOUT:
                stop_lab(process)
                raise LabError(f"JupyterLab did not answer within {START_TIMEOUT:g}s; its log: {log_path}")
            bar.n = min(round(time.monotonic() - started), bar.total)
            bar.refresh()
            time.sleep(0.25)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(asdict(lab)) + "\n")
    return lab, process


def stop_lab(process: subprocess.Popen[bytes]) -> int:
    """Stop JupyterLab through its SIGTERM handler (kernels and terminals shut down); return its exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
