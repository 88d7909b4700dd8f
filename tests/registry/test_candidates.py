"""The providers kept in memory are always what the database holds, whatever the order of changes.

Resolution reads providers through ``RegistryService.candidates``, which keeps them by capability and
patches them in place on a registration (``registry/candidates.py``). After every step of random
registrations (tools, versions, tags, kwargs, schemas and dependencies changing), unregistrations and
re-registrations, and after reads released together with registrations by a barrier, the kept
providers must equal a fresh read of the database. Only SQLite: on PostgreSQL and MySQL other replicas
may write, and the service reads providers from the database every time.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from registry.candidates import CandidateCache
from registry.resolution import Provider
from tests.registry.conftest import Harness, tool

pytestmark = pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)

CAPABILITIES = [f"cap-{i}" for i in range(4)]
AGENTS = [f"agent-{i}" for i in range(6)]


def random_tools(rng: random.Random) -> list[dict[str, Any]]:
    tools = []
    for n in range(rng.randint(0, 3)):
        extra: dict[str, Any] = {}
        if rng.random() < 0.5:
            extra["dependencies"] = [
                {"capability": rng.choice(CAPABILITIES), "tags": rng.choice([[], ["+fast"]])}
                | ({"required": True} if rng.random() < 0.3 else {})
            ]
        if rng.random() < 0.5:
            extra["kwargs"] = {"timeout": rng.randint(1, 9)}
        if rng.random() < 0.5:
            extra["description"] = rng.choice(["one", "two"])
            extra["input_schema"] = {"type": "object", "properties": {"x": {"type": "integer"}}}
        tools.append(
            tool(
                f"fn_{n}",
                rng.choice(CAPABILITIES),
                version=rng.choice(["1.0.0", "2.1.0", "0.3.0-beta"]),
                tags=rng.sample(["fast", "eu", "gpu"], rng.randint(0, 2)),
                **extra,
            )
        )
    return tools


def ordered(found: dict[str, list[Provider]]) -> dict[str, list[Provider]]:
    return {
        name: sorted(providers, key=lambda p: (p.agent_id, p.function_name))
        for name, providers in found.items()
    }


async def assert_kept_matches_database(registry: Harness) -> int:
    """Every capability kept equals the database (looked up without filling the cache); how many were."""
    runtime = registry.runtime
    compared = 0
    for name in CAPABILITIES:
        kept = runtime.service.candidate_cache.lookup([name])
        if kept is not None:
            assert ordered(kept) == ordered(await runtime.storage.candidates([name]))
            compared += 1
    return compared


async def change(registry: Harness, rng: random.Random) -> None:
    agent_id = rng.choice(AGENTS)
    if rng.random() < 0.2:
        response = await registry.client.delete(f"/agents/{agent_id}")
        assert response.status_code == 204
    else:
        port = rng.choice([8080, 9090])
        await registry.register(agent_id, random_tools(rng), http_host="10.0.0.1", http_port=port)


async def test_kept_providers_match_the_database_after_every_step(registry: Harness) -> None:
    await registry.pause_background()
    rng = random.Random(7)
    compared = 0
    for _ in range(80):
        await change(registry, rng)
        if rng.random() < 0.7:  # reads between changes fill the cache, so later changes patch it
            await registry.runtime.service.candidates(set(rng.sample(CAPABILITIES, 2)))
        compared += await assert_kept_matches_database(registry)
    assert compared >= 80  # most steps had entries patched in place to compare


async def test_reads_released_with_registrations_keep_nothing_stale(registry: Harness) -> None:
    await registry.pause_background()
    rng = random.Random(11)
    service = registry.runtime.service

    async def registering(barrier: asyncio.Barrier, seed: int) -> None:
        await barrier.wait()
        await change(registry, random.Random(seed))

    async def reading(barrier: asyncio.Barrier, names: set[str]) -> None:
        await barrier.wait()
        await service.candidates(names)

    compared = 0
    for _ in range(60):
        barrier = asyncio.Barrier(6)
        seeds = [rng.randrange(2**32) for _ in range(3)]
        reads = [set(rng.sample(CAPABILITIES, 2)) for _ in range(3)]
        service.candidate_cache = CandidateCache(registry.runtime.liveness)  # every read misses
        await asyncio.gather(
            *(registering(barrier, seed) for seed in seeds), *(reading(barrier, names) for names in reads)
        )
        compared += await assert_kept_matches_database(registry)
    assert compared >= 120  # of 240: reads that overlapped no touching change were kept and compared
