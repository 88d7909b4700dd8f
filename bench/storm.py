"""A registration storm: a whole mesh registering at once, as after a failover or a cold start.

Every simulated agent behaves as the SDK does: it posts its heartbeat, then sends ``HEAD
/heartbeat/{id}`` every ``interval`` seconds and posts again when the answer is 202 (the topology
changed). The agents use the ``sdk`` payload, so each depends on another agent's capability and an
early agent's provider may only arrive later: it is resolved once a 202 made it post again. The storm
ends when every agent is registered and every agent's last answer resolved its dependency; the
registry's own ``GET /agents`` must then say the same.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import orjson

from bench.mesh import agent_id, heartbeat_payload
from bench.rawhttp import RawClient


class StormFailed(Exception):
    """The storm did not end in the expected state (named in the message)."""


@dataclass
class StormResult:
    """When the last agent was registered and resolved (seconds from the start), and what it took."""

    agents: int
    registered_s: float = 0.0
    resolved_s: float = 0.0
    posts: int = 0
    heads: int = 0
    rejected: int = 0
    unresolved: list[str] = field(default_factory=list)


def resolved(answer: dict[str, object]) -> bool:
    """Whether a heartbeat answer resolved every dependency of every tool."""
    deps = answer.get("dependencies_resolved") or {}
    assert isinstance(deps, dict)
    return all(item.get("status") == "available" for items in deps.values() for item in items)


async def _agent(
    index: int, clients: Sequence[RawClient], interval: float, deadline: float, result: StormResult, t0: float
) -> None:
    client = clients[index % len(clients)]
    body = orjson.dumps(heartbeat_payload(index, "sdk"))
    head_path = f"/heartbeat/{agent_id(index)}"
    registered = False
    while time.monotonic() < deadline:
        response = await client.request("POST", "/heartbeat", body)
        result.posts += 1
        if response.status != 200:
            result.rejected += 1
            await asyncio.sleep(interval)
            continue
        now = time.monotonic() - t0
        if not registered:
            registered = True
            result.registered_s = max(result.registered_s, now)
        if resolved(json.loads(response.body)):
            result.resolved_s = max(result.resolved_s, now)
            return
        while time.monotonic() < deadline:  # heartbeat until the registry says the topology changed
            await asyncio.sleep(interval)
            answer = await client.request("HEAD", head_path)
            result.heads += 1
            if answer.status == 202:
                break
            if answer.status != 200:
                result.rejected += 1
    result.unresolved.append(agent_id(index))


async def storm(
    urls: Sequence[str], agents: int, connections: int = 64, interval: float = 1.0, limit_s: float = 300.0
) -> StormResult:
    """Run the storm against the registries at ``urls`` (agents spread over them); bounded by ``limit_s``."""
    clients = [RawClient(url, max(1, connections // len(urls))) for url in urls]
    result = StormResult(agents)
    t0 = time.monotonic()
    deadline = t0 + limit_s
    try:
        await asyncio.gather(*(_agent(i, clients, interval, deadline, result, t0) for i in range(agents)))
    finally:
        for client in clients:
            await client.close()
    return result


def listed_state(url: str) -> dict[str, tuple[int, int, str]]:
    """Every listed agent's (dependencies resolved, total dependencies, status), from GET /agents."""
    response = httpx.get(url + "/agents", timeout=120)  # Go sends a large list chunked
    response.raise_for_status()
    agents = response.json().get("agents") or []
    return {
        a["id"]: (
            int(a.get("dependencies_resolved") or 0),
            int(a.get("total_dependencies") or 0),
            a["status"],
        )
        for a in agents
    }


def check_end_state(state: dict[str, tuple[int, int, str]], agents: int) -> None:
    """Every agent listed once, healthy and resolved; StormFailed naming the first that is not."""
    expected = {agent_id(i) for i in range(agents)}
    missing = sorted(expected - set(state))
    if missing:
        raise StormFailed(f"{len(missing)} agents are not listed, e.g. {missing[:3]}")
    for name in sorted(expected):
        done, total, status = state[name]
        if status != "healthy" or total == 0 or done != total:
            raise StormFailed(f"{name} is listed {status} with {done} of {total} dependencies resolved")


def run_storm(urls: Sequence[str], agents: int, connections: int = 64, interval: float = 1.0) -> StormResult:
    """The storm, then the end state checked on the first registry's GET /agents."""

    result = asyncio.run(storm(urls, agents, connections, interval))
    if result.unresolved:
        raise StormFailed(f"{len(result.unresolved)} agents never resolved, e.g. {result.unresolved[:3]}")
    check_end_state(listed_state(urls[0]), agents)
    return result
