"""Run the real MCP Mesh agents in tests/compat/agents/ as processes, and wait for conditions on them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.processes import REPO_ROOT, free_port

AGENTS_DIR = Path(__file__).resolve().parent / "agents"
T = TypeVar("T")


@dataclass
class AgentProcess:
    """A running agent script: its process, the port it serves MCP on, and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def endpoint(self) -> str:
        """The endpoint the agent announces to the registry."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        """Where an MCP client reaches the agent's tools."""
        return f"{self.endpoint}/mcp"

    def log(self) -> str:
        """Everything the agent has written so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def run_agent(
    script: str, registry_url: str, workdir: Path, *, heartbeat_interval: int = 1
) -> Iterator[AgentProcess]:
    """Run ``agents/<script>.py`` against ``registry_url`` on a free loopback port.

    The agent is SIGKILLed when the block ends unless the test already stopped it.
    """
    port = free_port()
    env = {
        **os.environ,
        "MCP_MESH_REGISTRY_URL": registry_url,
        "MCP_MESH_HTTP_HOST": "127.0.0.1",
        "MCP_MESH_HTTP_PORT": str(port),
        "MCP_MESH_HEALTH_INTERVAL": str(heartbeat_interval),
        "MCP_MESH_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = workdir / f"agent-{script}-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(AGENTS_DIR / f"{script}.py")],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    agent = AgentProcess(name=script, proc=proc, port=port, log_path=log_path)
    try:
        yield agent
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    describe: Callable[[], str] = lambda: "",
    interval: float = 0.2,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the last state seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}. {describe()}")
        time.sleep(interval)
