"""Property: after any interleaving of registrations, unregistrations and HEADs, the 202s are exactly right.

Agents ``a0``..``a3`` each provide ``cap-i`` and depend on ``cap-(i+1)``, so every agent is both a
provider and a consumer. Steps run one after another; the operations inside a step run at the same time
(released by a barrier), on either of two replicas sharing one database. After the last step, for every
healthy agent:

- stale (its last POST's answer differs from what resolution gives now) → its HEAD must be 202;
- current (no other agent's topology event in or after the step of its last POST) → it must be 200.

An agent whose last POST ran at the same time as another agent's event may get either answer.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.app import create_app
from registry.config import load_settings
from registry.runtime import RegistryRuntime
from tests.registry.conftest import Harness, tool

AGENTS = 4


def agent(index: int) -> str:
    return f"a{index}"


def payload(index: int) -> dict[str, Any]:
    needs = [{"capability": f"cap-{(index + 1) % AGENTS}"}]
    return {"agent_id": agent(index), "tools": [tool("work", f"cap-{index}", dependencies=needs)]}


operation = st.tuples(st.sampled_from(["register", "unregister", "head"]), st.integers(0, 1))


@st.composite
def step(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """One to three operations on distinct agents, to run at the same time: (kind, agent, replica)."""
    indices = draw(st.lists(st.integers(0, AGENTS - 1), min_size=1, max_size=3, unique=True))
    return [(*draw(operation), index) for index in indices]  # type: ignore[list-item]


@dataclass
class Model:
    """What the test knows for sure: who is healthy, what each agent was last told, when events happened."""

    healthy: set[int] = field(default_factory=set)
    known: set[int] = field(default_factory=set)
    answer: dict[int, str | None] = field(default_factory=dict)  # provider the last POST resolved to
    posted_at: dict[int, int] = field(default_factory=dict)  # step of the last POST
    events: list[tuple[int, int]] = field(default_factory=list)  # (step, agent) of each topology event
    changed_on: dict[int, int] = field(default_factory=dict)  # replica of each agent's last POST or DELETE

    def truth(self, index: int) -> str | None:
        provider = (index + 1) % AGENTS
        return agent(provider) if provider in self.healthy else None

    def current(self, index: int) -> bool:
        return all(at < self.posted_at[index] for at, about in self.events if about != index)


async def start_pair(database: Path) -> list[Harness]:
    """Two replicas on one database that have already seen each other write (as after their first poll)."""
    harnesses = []
    for _ in range(2):
        runtime = RegistryRuntime(load_settings({"DATABASE_TYPE": "sqlite", "DATABASE_PATH": str(database)}))
        await runtime.start()
        harnesses.append(Harness(runtime, create_app(runtime).test_client()))
    for number, side in enumerate(harnesses):
        await side.register(f"setup-{number}")
    for side in harnesses:
        for _ in range(2):  # an unknown event seen during a write of its own is looked at once more
            await side.runtime.liveness.sync()
        assert side.runtime.liveness.shared_database
    return harnesses


async def apply(
    replicas: list[Harness], model: Model, number: int, kind: str, replica: int, index: int, barrier: Any
) -> None:
    side = replicas[replica]
    await barrier.wait()
    if kind == "register":
        response = await side.client.post("/heartbeat", json=payload(index))
        body = await response.get_json()
        assert body["status"] == "success", body
        if index not in model.healthy:
            model.events.append((number, index))
        model.healthy.add(index)
        model.known.add(index)
        chosen = body["dependencies_resolved"]["work"][0]
        model.answer[index] = chosen["agent_id"] or None
        model.posted_at[index] = number
        model.changed_on[index] = replica
    elif kind == "unregister":
        response = await side.client.delete(f"/agents/{agent(index)}")
        assert response.status_code == 204  # also for unknown ids, as in the Go registry
        if index in model.known:  # an unregister event, even for an agent already unregistered
            model.events.append((number, index))
        model.healthy.discard(index)
        model.changed_on[index] = replica
    else:
        status = await side.head(f"/heartbeat/{agent(index)}")
        if model.changed_on.get(index, replica) != replica:
            assert status in (200, 202, 410), status  # the other replica's change, not polled yet
        else:
            assert status in ((410,) if index not in model.healthy else (200, 202)), status


async def scenario(steps: list[list[tuple[str, int, int]]], final_replicas: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        replicas = await start_pair(Path(folder) / "registry.db")
        try:
            model = Model()
            for number, operations in enumerate(steps):
                barrier = asyncio.Barrier(len(operations))
                await asyncio.gather(
                    *(
                        apply(replicas, model, number, kind, rep, index, barrier)
                        for kind, rep, index in operations
                    )
                )
            for side in replicas:
                await side.runtime.liveness.sync()
                # Real heartbeats come seconds apart, so a 202 is always confirmed against the database.
                side.runtime.liveness.sync_interval = 0.0
            for index in sorted(model.healthy):
                status = await replicas[final_replicas[index]].head(f"/heartbeat/{agent(index)}")
                if model.answer[index] != model.truth(index):
                    assert status == 202, f"{agent(index)} is stale ({model.answer[index]}) but got {status}"
                elif model.current(index):
                    assert status == 200, f"{agent(index)} is current but got {status}: {model.events}"
        finally:
            for side in replicas:
                await side.runtime.stop()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step(), min_size=1, max_size=10),
    final_replicas=st.lists(st.integers(0, 1), min_size=AGENTS, max_size=AGENTS),
)
def test_202_exactly_when_a_resolution_is_stale(
    steps: list[list[tuple[str, int, int]]], final_replicas: list[int]
) -> None:
    asyncio.run(scenario(steps, final_replicas))
