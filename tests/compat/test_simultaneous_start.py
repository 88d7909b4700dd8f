"""Lesson 03's real provider and consumer, started at the same moment, always end up wired together.

Their first POSTs reach the registry milliseconds apart, so the consumer's first resolution often
misses the provider; the consumer must then get a 202 on a HEAD and re-post. Twenty rounds in a row,
each with new agents on the same registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from labkit.agents import MeshAgent, start_agent
from tests.compat.agent_processes import wait_for
from tests.processes import RunningProcess, run_registry

ROUNDS = 20
HEARTBEAT_S = 2
LESSON_AGENTS = Path(__file__).resolve().parents[2] / "notebooks" / "agents"
STARTUP_TIMEOUT_S = 45.0  # importing mcp-mesh and fastmcp takes a few seconds on 2 busy cores
RESOLVE_TIMEOUT_S = 5 * HEARTBEAT_S

pytestmark = [pytest.mark.agents, pytest.mark.timeout(ROUNDS * 90)]


def registered(registry: RunningProcess, agent: MeshAgent) -> dict[str, Any] | None:
    """The registry's entry for this agent process (matched by the endpoint it registered)."""
    listed = httpx.get(registry.url + "/agents", timeout=5).json().get("agents") or []
    return next((a for a in listed if a["endpoint"] == agent.endpoint and a["status"] == "healthy"), None)


def wired(registry: RunningProcess, consumer: MeshAgent, provider_id: str) -> bool:
    entry = registered(registry, consumer)
    resolutions = (entry or {}).get("dependency_resolutions") or []
    return any(r["status"] == "available" and r.get("provider_agent_id") == provider_id for r in resolutions)


def start_together(registry: RunningProcess, logs: Path, number: int) -> bool:
    """One round: both agents at once; True when the consumer's first resolution missed the provider."""
    provider = start_agent(LESSON_AGENTS / "provider.py", registry.url, logs, HEARTBEAT_S)
    consumer = start_agent(LESSON_AGENTS / "consumer.py", registry.url, logs, HEARTBEAT_S)
    with provider, consumer:

        def state() -> str:
            tail = "\n".join(registry.log().splitlines()[-40:])
            return f"registry log:\n{tail}\nconsumer:\n{consumer.log(20)}"

        provider_id = wait_for(
            lambda: registered(registry, provider),
            timeout=STARTUP_TIMEOUT_S,
            what=f"round {number}: the provider's registration",
            describe=state,
        )["id"]
        wait_for(
            lambda: registered(registry, consumer),
            timeout=STARTUP_TIMEOUT_S,
            what=f"round {number}: the consumer's registration",
            describe=state,
        )
        raced = not wired(registry, consumer, provider_id)
        wait_for(
            lambda: wired(registry, consumer, provider_id),
            timeout=RESOLVE_TIMEOUT_S,
            what=f"round {number}: the consumer's greeting resolved to this round's provider",
            describe=state,
        )
        consumer.stop()
        provider.stop()
    return raced


def test_twenty_simultaneous_starts_all_resolve(tmp_path: Path) -> None:
    with run_registry(tmp_path, {"AGENT_TIMEOUT": "30s"}) as registry:
        raced = sum(start_together(registry, tmp_path / f"round-{n}", n) for n in range(ROUNDS))
    print(f"{raced} of {ROUNDS} consumers were registered before their provider was visible")
