"""Where the compatibility tests' real MCP Mesh agents live, and waiting for conditions on them.

The agents run through ``labkit.agents.start_agent``, the launcher the lessons use too.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from labkit.agents import MeshAgent, start_agent
from tests.processes import free_port

AGENTS_DIR = Path(__file__).resolve().parent / "agents"
T = TypeVar("T")


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


def free_agent_port() -> int:
    """A port for an agent: free on every address (agents bind 0.0.0.0, and the local cluster's pods
    listen on other loopback addresses with the same numbers), chosen below the ephemeral range."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port is free on every address")


async def _lists_tools(agent: MeshAgent) -> bool:
    from fastmcp import Client

    async with Client(agent.mcp_url, timeout=10) as client:
        return bool(await client.list_tools())


def start_serving_agent(script: str, registry_url: str, workdir: Path, attempts: int = 3) -> MeshAgent:
    """A real agent whose MCP endpoint answers ``tools/list``.

    mcp-mesh 3.8 now and then starts its HTTP server twice when its process starts on a busy machine;
    the second bind fails ("Address already in use") and the endpoint stays dead while the agent keeps
    heartbeating. Such a start is stopped and retried on a new port, at most ``attempts`` times, under
    the same agent id, so that the registry sees one agent (and lists no superseded instance).
    """
    identity = {"MCP_MESH_AGENT_ID": f"{script}-{secrets.token_hex(4)}"}
    for attempt in range(1, attempts + 1):
        agent = start_agent(
            AGENTS_DIR / f"{script}.py",
            registry_url,
            workdir,
            heartbeat_seconds=1,
            port=free_agent_port(),
            env=identity,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and agent.running():
            if "Address already in use" in agent.log():
                break
            try:
                if asyncio.run(_lists_tools(agent)):
                    return agent
            except Exception:  # not serving yet
                time.sleep(0.5)
        agent.stop()
        if attempt == attempts:
            raise AssertionError(f"{script} never served MCP after {attempts} starts:\n{agent.log()[-3000:]}")
    raise AssertionError("unreachable")
