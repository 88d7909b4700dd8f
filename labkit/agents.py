"""Real MCP Mesh agents (scripts using the ``mcp-mesh`` package) as local processes, and their tools.

An agent registers with the registry at ``registry_url`` (a port-forward's URL in the lessons) and
serves MCP on a loopback port of this machine. ``start_agent`` returns a ``MeshAgent``; use it as a
context manager, or stop it yourself: an agent left running would keep heartbeating after the lesson.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from labkit.errors import BadParameter
from labkit.sync import run_sync

# mcp-mesh falls back to another port when the configured one cannot be bound, and says so.
ACTUAL_PORT = re.compile(r"Registering ACTUAL bound port (\d+)")


def free_agent_port() -> int:
    """A TCP port nothing listens on right now, on any address: the agent binds 0.0.0.0, and on the
    local cluster pods listen on other loopback addresses with the same port numbers."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


@dataclass
class MeshAgent:
    """A running agent: its process, its MCP port and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def endpoint(self) -> str:
        """The endpoint the agent registers: its configured port, or the one it fell back to."""
        fallback = ACTUAL_PORT.search(self.log_path.read_text(errors="replace"))
        return f"http://127.0.0.1:{fallback.group(1) if fallback else self.port}"

    @property
    def mcp_url(self) -> str:
        """Where an MCP client reaches the agent's tools."""
        return f"{self.endpoint}/mcp"

    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int | None = None) -> str:
        """What the agent wrote: the last ``tail`` lines, or all of it."""
        text = self.log_path.read_text(errors="replace")
        return text if tail is None else "\n".join(text.splitlines()[-tail:])

    def kill(self) -> None:
        """SIGKILL: the agent dies without unregistering, as a crashed pod would."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM: the agent unregisters and exits (SIGKILL after ``timeout`` seconds)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> MeshAgent:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.kill()


def start_agent(
    script: str | os.PathLike[str],
    registry_url: str,
    log_dir: str | os.PathLike[str],
    heartbeat_seconds: int = 2,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> MeshAgent:
    """Start the agent script against ``registry_url`` on ``port`` (default: a free one).

    ``env`` adds MCP_MESH_* settings of its own (for example a fixed ``MCP_MESH_AGENT_ID``).
    """
    path = Path(script)
    if not path.is_file():
        raise BadParameter(f"agent script {str(path)!r} does not exist")
    port = port or free_agent_port()
    env = {
        **os.environ,
        "MCP_MESH_REGISTRY_URL": registry_url,
        "MCP_MESH_HTTP_HOST": "127.0.0.1",
        "MCP_MESH_HTTP_PORT": str(port),
        "MCP_MESH_HEALTH_INTERVAL": str(heartbeat_seconds),
        "MCP_MESH_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    logs = Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"agent-{path.stem}-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(path)], cwd=logs, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    agent = MeshAgent(name=path.stem, proc=proc, port=port, log_path=log_path)
    atexit.register(agent.kill)  # a failed lesson must not leave agents heartbeating behind it
    return agent


async def call_tool_async(agent: MeshAgent, tool: str, **arguments: Any) -> str:
    """Call one of the agent's MCP tools and return its text answer."""
    from fastmcp import Client  # comes with mcp-mesh; imported here so labkit loads without it

    async with Client(agent.mcp_url, timeout=20) as client:
        result = await client.call_tool(tool, arguments)
    return str(result.data if result.data is not None else result.content[0].text)


def call_tool(agent: MeshAgent, tool: str, **arguments: Any) -> str:
    """``call_tool_async`` from synchronous code (works inside Jupyter's running loop)."""
    return run_sync(call_tool_async(agent, tool, **arguments))
