"""Run the lab's real MCP Mesh agents (provider.py, consumer.py) as local processes, and call their tools.

The agents come from the ``mcp-mesh`` package in the lab environment; they register with the registry
on the cluster through the URL a port-forward gives, and serve MCP on a loopback port of this machine.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.sync import run_sync

AGENTS_DIR = Path(__file__).resolve().parent
# mcp-mesh falls back to another port when the configured one cannot be bound, and says so.
ACTUAL_PORT = re.compile(r"Registering ACTUAL bound port (\d+)")


def free_port() -> int:
    """A TCP port nothing listens on right now, on any address: the agent binds 0.0.0.0, and on the
    local cluster pods listen on other loopback addresses with the same port numbers."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


@dataclass
class Agent:
    """A running agent: its process, its MCP endpoint and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def endpoint(self) -> str:
        """The endpoint the agent registers: its configured port, or the one it fell back to."""
        fallback = ACTUAL_PORT.search(self.log_path.read_text(errors="replace"))
        return f"http://127.0.0.1:{fallback.group(1) if fallback else self.port}"

    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 20) -> str:
        """The last lines the agent wrote."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def kill(self) -> None:
        """SIGKILL: the agent dies without unregistering, as a crashed pod would."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM: the agent unregisters and exits."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_agent(script: str, registry_url: str, log_dir: Path, heartbeat_seconds: int = 2) -> Agent:
    """Start ``agents/<script>.py`` against registry_url on a free loopback port."""
    path = AGENTS_DIR / f"{script}.py"
    if not path.is_file():
        raise ValueError(f"no agent script {path}: expected one of provider, consumer")
    port = free_port()
    env = {
        **os.environ,
        "MCP_MESH_REGISTRY_URL": registry_url,
        "MCP_MESH_HTTP_HOST": "127.0.0.1",
        "MCP_MESH_HTTP_PORT": str(port),
        "MCP_MESH_HEALTH_INTERVAL": str(heartbeat_seconds),
        "MCP_MESH_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"agent-{script}-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(path)], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    agent = Agent(name=script, proc=proc, port=port, log_path=log_path)
    atexit.register(agent.kill)  # a failed lesson must not leave agents heartbeating behind it
    return agent


async def _call_tool(endpoint: str, tool: str, arguments: dict[str, Any]) -> str:
    from fastmcp import Client

    async with Client(f"{endpoint}/mcp", timeout=20) as client:
        result = await client.call_tool(tool, arguments)
    return str(result.data if result.data is not None else result.content[0].text)


def call_tool(agent: Agent, tool: str, **arguments: Any) -> str:
    """Call one of the agent's MCP tools and return its text answer (works inside Jupyter)."""
    return run_sync(_call_tool(agent.endpoint, tool, arguments))
