"""A registration storm against a real registry process: the end state is right, and bad registrations
mixed into it are refused without leaving anything behind.

The storm is bench/storm.py's (agents that behave as the SDK does: POST, HEAD every interval, POST again
on 202), so the benchmark and this test exercise the same traffic; here only its end state is checked,
never its timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.mesh import agent_id, heartbeat_payload
from bench.storm import end_state_problem, listed_state, storm
from tests.processes import RunningProcess, run_registry

STORM_AGENTS = 300
TRIALS = 3
MAX_BODY_BYTES = 65_536


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningProcess]:
    env = {"LOG_LEVEL": "warning", "MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with run_registry(tmp_path, env, startup_timeout=60) as running:
        yield running


def register_events(url: str) -> list[str]:
    """The agent id of every ``register`` event the registry recorded (the API caps a page at 500)."""
    response = httpx.get(url + "/events", params={"type": "register", "limit": 500}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert body["count"] < 500, "more register events than one page holds: the check would miss some"
    return [event["agent_id"] for event in body["events"]]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_storm_ends_with_every_agent_registered_once_and_resolved(
    registry: RunningProcess, trial: int
) -> None:
    result = asyncio.run(storm([registry.url], STORM_AGENTS, connections=64, interval=0.2, limit_s=120))

    assert result.unresolved == []
    assert result.rejected == 0
    assert end_state_problem(listed_state(registry.url), STORM_AGENTS) == ""
    events = register_events(registry.url)
    assert sorted(events) == sorted(agent_id(i) for i in range(STORM_AGENTS))


def _good(index: int) -> bytes:
    return json.dumps(heartbeat_payload(index, "sdk")).encode()


def _bad_bodies(index: int) -> dict[str, bytes]:
    """One body of each kind of bad registration; each names an agent id that must never be stored."""
    name = f"bad-{index}"
    valid: dict[str, Any] = {**heartbeat_payload(index, "sdk"), "agent_id": name}
    oversized = {**valid, "tools": [{**valid["tools"][0], "description": "x" * MAX_BODY_BYTES}]}
    no_id = {key: value for key, value in valid.items() if key != "agent_id"}
    return {
        "oversized": json.dumps(oversized).encode(),
        "not JSON": json.dumps(valid).encode()[:-7],
        "no agent_id": json.dumps({**no_id, "name": name}).encode(),
        "tools not a list": json.dumps({**valid, "tools": {"function_name": "work"}}).encode(),
        "port not a number": json.dumps({**valid, "http_port": "eighty"}).encode(),
    }


async def _released_together(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    """POST every body at once: each request waits at a barrier until all are ready to send."""
    barrier = asyncio.Barrier(len(bodies))
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def post(body: bytes) -> httpx.Response:
            await barrier.wait()
            return await client.post("/heartbeat", content=body, headers={"Content-Type": "application/json"})

        return list(await asyncio.gather(*(post(body) for body in bodies)))


GOOD_PER_TRIAL = 40
BAD_PER_KIND = 8


@pytest.mark.parametrize("trial", range(TRIALS))
def test_bad_registrations_in_a_storm_get_4xx_and_store_nothing(registry: RunningProcess, trial: int) -> None:
    good = list(range(GOOD_PER_TRIAL))
    bad = [(kind, body) for index in range(BAD_PER_KIND) for kind, body in _bad_bodies(index).items()]
    bodies = [_good(i) for i in good] + [body for _, body in bad]

    responses = asyncio.run(_released_together(registry.url, bodies))

    good_answers, bad_answers = responses[: len(good)], responses[len(good) :]
    assert [r.status_code for r in good_answers] == [200] * len(good)
    for (kind, _), answer in zip(bad, bad_answers, strict=True):
        assert 400 <= answer.status_code < 500, f"{kind}: {answer.status_code} {answer.text[:200]}"
        assert answer.json().get("error"), f"{kind}: no error named in {answer.text[:200]}"
    listed = listed_state(registry.url)
    assert sorted(listed) == sorted(agent_id(i) for i in good)
    assert sorted(register_events(registry.url)) == sorted(agent_id(i) for i in good)


def test_a_storm_against_a_registry_that_never_answers_ends_at_its_limit() -> None:
    """A saturated registry's backlog must not keep the storm (and the benchmark) running past its limit."""

    async def run() -> Any:
        async def accept_and_stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(-1)  # reads the requests, never answers
            writer.close()

        server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await asyncio.wait_for(
                storm([f"http://127.0.0.1:{port}"], 20, connections=4, interval=0.1, limit_s=1.0), timeout=30
            )

    result = asyncio.run(run())

    assert result.cut_off == 20
    assert sorted(result.unresolved) == sorted(agent_id(i) for i in range(20))
    assert result.posts == 0  # no answer was ever counted
