"""labkit.agents: starting, reading, stopping agent processes (real agents run in tests/compat and 03/04)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from labkit.agents import start_agent
from labkit.errors import BadParameter

# A stand-in for an agent script: it logs what mcp-mesh logs when it falls back to another port, then
# waits for a signal, and on SIGTERM says goodbye (a real agent unregisters there).
STAND_IN = """
import os, signal, sys, time
print("port from env", os.environ["MCP_MESH_HTTP_PORT"], "registry", os.environ["MCP_MESH_REGISTRY_URL"])
print("Registering ACTUAL bound port 45678", flush=True)
signal.signal(signal.SIGTERM, lambda *_: (print("goodbye", flush=True), sys.exit(0)))
while True:
    time.sleep(0.1)
"""


def wait_for_line(agent_log: Callable[[], str], text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in agent_log():
        assert time.monotonic() < deadline, f"{text!r} never appeared"
        time.sleep(0.05)


def test_a_missing_script_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with pytest.raises(BadParameter, match=r"agent script '.*nope\.py' does not exist"):
        start_agent(tmp_path / "nope.py", "http://127.0.0.1:1", tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


def test_endpoint_log_stop_and_kill(tmp_path: Path) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    agent = start_agent(script, "http://127.0.0.1:9", tmp_path / "logs", port=40001)
    wait_for_line(agent.log, "Registering ACTUAL bound port")
    assert agent.log(1) == "Registering ACTUAL bound port 45678"
    assert "port from env 40001 registry http://127.0.0.1:9" in agent.log()
    assert agent.endpoint == "http://127.0.0.1:45678", "the port mcp-mesh fell back to wins"
    assert agent.mcp_url == "http://127.0.0.1:45678/mcp"
    agent.stop()
    assert agent.proc.returncode == 0
    assert "goodbye" in agent.log()
    with start_agent(script, "http://127.0.0.1:9", tmp_path / "logs") as killed:
        wait_for_line(killed.log, "ACTUAL")
    assert killed.proc.returncode == -signal.SIGKILL, "leaving the block kills the agent"
