"""A provider and its consumer registering at the same moment: the consumer always resolves.

Each trial releases both first POSTs through a barrier so that they really overlap, then lets the
consumer behave like a real agent: a HEAD every heartbeat, and a full POST whenever the HEAD says 202.
The consumer must be resolved within two heartbeats in every trial: on one replica of each database, and
on two replicas sharing PostgreSQL or MariaDB whose clocks run seconds apart.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from registry.clock import Clock
from tests.registry.conftest import Harness, MakeRegistry, tool

TRIALS = 100
HEARTBEATS = 2
SYNC_INTERVAL = 0.05  # how often a replica reads the others' events (1 s in production)
HEARTBEAT_INTERVAL = 3 * SYNC_INTERVAL  # real agents: 5 s, five sync intervals


def provider_payload(trial: str) -> dict[str, Any]:
    return {"agent_id": f"provider-{trial}", "tools": [tool("greet", f"greeting-{trial}")]}


def consumer_payload(trial: str) -> dict[str, Any]:
    needs = [{"capability": f"greeting-{trial}"}]
    return {"agent_id": f"consumer-{trial}", "tools": [tool("ask", f"asking-{trial}", dependencies=needs)]}


def resolved(response: dict[str, Any]) -> bool:
    return [item["status"] for item in response["dependencies_resolved"]["ask"]] == ["available"]


async def post(registry: Harness, payload: dict[str, Any], barrier: asyncio.Barrier | None = None) -> Any:
    if barrier is not None:
        await barrier.wait()
    response = await registry.client.post("/heartbeat", json=payload)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["status"] == "success", body
    return body


async def heartbeats_until_resolved(consumer_side: Harness, trial: str, first: dict[str, Any]) -> int | None:
    """Behave like the agent: HEAD each heartbeat, re-POST on 202. The heartbeat it resolved at, or None."""
    if resolved(first):
        return 0
    payload = consumer_payload(trial)
    for beat in range(1, HEARTBEATS + 1):
        await asyncio.sleep(HEARTBEAT_INTERVAL)
        status = await consumer_side.head(f"/heartbeat/{payload['agent_id']}")
        assert status in (200, 202), status
        if status == 202 and resolved(await post(consumer_side, payload)):
            return beat
    return None


async def run_trials(provider_side: Harness, consumer_side: Harness, label: str = "t") -> None:
    for side in {id(provider_side): provider_side, id(consumer_side): consumer_side}.values():
        side.runtime.liveness.sync_interval = SYNC_INTERVAL
    await asyncio.sleep(1.1)  # let each sync loop pick up the short interval
    missed, raced = [], 0
    for number in range(TRIALS):
        trial = f"{label}{number}"
        barrier = asyncio.Barrier(2)
        _, first = await asyncio.gather(
            post(provider_side, provider_payload(trial), barrier),
            post(consumer_side, consumer_payload(trial), barrier),
        )
        raced += not resolved(first)
        if await heartbeats_until_resolved(consumer_side, trial, first) is None:
            missed.append(trial)
    assert not missed, (
        f"{len(missed)} of {TRIALS} consumers never resolved within {HEARTBEATS} heartbeats "
        f"(trials {missed[:10]}); {raced} first POSTs raced the provider"
    )


async def test_one_replica(registry: Harness) -> None:
    await run_trials(registry, registry)


@pytest.mark.parametrize(
    "database_env",
    [pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
    indirect=True,
)
async def test_two_replicas_with_clocks_apart(make_registry: MakeRegistry) -> None:
    ahead = await make_registry(clock=Clock(offset=3.0))
    behind = await make_registry(clock=Clock(offset=-3.0))
    await run_trials(ahead, behind, "ab")
    await run_trials(behind, ahead, "ba")
