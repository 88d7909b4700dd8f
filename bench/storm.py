"""A registration storm: a whole mesh registering at once, as after a failover or a cold start.

Every simulated agent behaves as the SDK does: it posts its heartbeat, then sends ``HEAD
/heartbeat/{id}`` every ``interval`` seconds and posts again when the answer is 202 (the topology
changed) or 410 (the registry no longer knows it as healthy, e.g. it missed its heartbeats while the
registry was saturated). The agents use the ``sdk`` payload, so each depends on another agent's
capability and an early agent's provider may only arrive later: it is resolved once a 202 made it
post again. The storm ends when every agent is registered and every agent's last answer resolved its
dependency; the registry's own ``GET /agents`` must then say the same.
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
from bench.process_use import cpu_seconds
from bench.rawhttp import RawClient


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
    cut_off: int = 0
    """Agents still waiting for an answer when the time limit came (their requests were abandoned)."""
    problem: str = ""
    """Empty when the storm ended as it should; else what went wrong (never resolved, or listed wrong)."""
    seconds: float = 0.0
    """How long the storm ran, to its end or its limit."""
    registry_cpu_s: float = 0.0
    """CPU time the registry processes spent during the storm (all replicas together)."""
    generator_cpu_s: float = 0.0
    """CPU time this process (every simulated agent) spent during the storm."""

    @property
    def complete(self) -> bool:
        return not self.problem


def resolved(answer: dict[str, object]) -> bool:
    """Whether a heartbeat answer resolved every dependency of every tool."""
    deps = answer.get("dependencies_resolved") or {}
    assert isinstance(deps, dict)
    return all(item.get("status") == "available" for items in deps.values() for item in items)


@dataclass
class _Storm:
    """What every agent of one storm shares."""

    clients: Sequence[RawClient]
    interval: float
    deadline: float
    t0: float
    result: StormResult
    everyone_resolved: asyncio.Event = field(default_factory=asyncio.Event)
    resolved_agents: set[int] = field(default_factory=set)

    def running(self) -> bool:
        return time.monotonic() < self.deadline and not self.everyone_resolved.is_set()


async def _agent(index: int, storm: _Storm) -> None:
    """One agent: post, then heartbeat until the storm ends, posting again on 202 or 410.

    An agent keeps heartbeating after it is resolved, as a real one does, so that the registry's own
    timeouts never see it go quiet while the rest of the mesh is still registering.
    """
    result = storm.result
    client = storm.clients[index % len(storm.clients)]
    body = orjson.dumps(heartbeat_payload(index, "sdk"))
    head_path = f"/heartbeat/{agent_id(index)}"
    registered = done = False
    while storm.running():
        response = await client.request("POST", "/heartbeat", body)
        result.posts += 1
        if response.status != 200:
            result.rejected += 1
            await asyncio.sleep(storm.interval)
            continue
        now = time.monotonic() - storm.t0
        if not registered:
            registered = True
            result.registered_s = max(result.registered_s, now)
        if not done and resolved(json.loads(response.body)):
            done = True
            result.resolved_s = max(result.resolved_s, now)
            storm.resolved_agents.add(index)
            if len(storm.resolved_agents) == result.agents:
                storm.everyone_resolved.set()
        while storm.running():
            await asyncio.sleep(storm.interval)
            answer = await client.request("HEAD", head_path)
            result.heads += 1
            if answer.status in (202, 410):  # changed, or forgotten (e.g. marked unhealthy): post again
                break
            if answer.status != 200:
                result.rejected += 1


async def storm(
    urls: Sequence[str],
    agents: int,
    connections: int = 64,
    interval: float = 1.0,
    limit_s: float = 300.0,
    pids: Sequence[int] = (),
) -> StormResult:
    """Run the storm against the registries at ``urls`` (agents spread over them); bounded by ``limit_s``.

    At the limit every agent still waiting for an answer is abandoned: a saturated registry's backlog
    of queued requests would otherwise keep the storm going long after its time was up. The CPU time
    of the registries (``pids``) and of this process is recorded, to tell which side was the limit.
    """
    clients = [RawClient(url, max(1, connections // len(urls))) for url in urls]
    registry_cpu, generator_cpu = sum(map(cpu_seconds, pids)), time.process_time()
    t0 = time.monotonic()
    shared = _Storm(clients, interval, t0 + limit_s, t0, StormResult(agents))
    tasks = [asyncio.create_task(_agent(i, shared)) for i in range(agents)]
    try:
        finished, pending = await asyncio.wait(tasks, timeout=limit_s + interval)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in finished:
            task.result()  # an agent's own error (a bug, not a slow registry) is raised
    finally:
        for client in clients:
            await client.close()
    shared.result.seconds = time.monotonic() - t0
    shared.result.registry_cpu_s = sum(map(cpu_seconds, pids)) - registry_cpu
    shared.result.generator_cpu_s = time.process_time() - generator_cpu
    shared.result.cut_off = len(pending)
    shared.result.unresolved = [agent_id(i) for i in range(agents) if i not in shared.resolved_agents]
    return shared.result


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


def end_state_problem(state: dict[str, tuple[int, int, str]], agents: int) -> str:
    """What is wrong with the listed mesh ("" when every agent is listed once, healthy and resolved)."""
    expected = {agent_id(i) for i in range(agents)}
    missing = sorted(expected - set(state))
    if missing:
        return f"{len(missing)} agents are not listed, e.g. {missing[:3]}"
    wrong = [name for name in sorted(expected) if not _listed_right(state[name])]
    if wrong:
        done, total, status = state[wrong[0]]
        return f"{len(wrong)} agents are listed wrong, e.g. {wrong[0]}: {status}, {done} of {total} resolved"
    return ""


def _listed_right(entry: tuple[int, int, str]) -> bool:
    done, total, status = entry
    return status == "healthy" and total > 0 and done == total


def run_storm(
    urls: Sequence[str],
    agents: int,
    connections: int = 64,
    interval: float = 1.0,
    limit_s: float = 300.0,
    pids: Sequence[int] = (),
) -> StormResult:
    """The storm, then the end state read from the first registry's GET /agents.

    A storm that does not end right within ``limit_s`` is an outcome, not an error: the result's
    ``problem`` says what was wrong, so a table can show it beside the other registry's figures.
    """
    result = asyncio.run(storm(urls, agents, connections, interval, limit_s, pids))
    if result.unresolved:
        first = result.unresolved[:3]
        result.problem = f"{len(result.unresolved)} agents unresolved after {limit_s:.0f} s, e.g. {first}"
        if result.cut_off:
            result.problem += f"; {result.cut_off} agents were still waiting for an answer"
    else:
        result.problem = end_state_problem(listed_state(urls[0]), agents)
    return result
