"""Real MCP Mesh agents (the ``mcp-mesh`` package) against the registry, end to end on loopback.

A provider (``greeter``: capability ``greeting`` 1.2.0, tags demo/v1) and a consumer (``assistant``:
``smart_greet`` depends on ``greeting`` with tags ["demo", "+v1"] and version ">=1.0.0") register; the
consumer's dependency resolves to the provider's endpoint, seen both in ``GET /agents`` and in the
consumer's own behaviour; HEADs keep arriving; ``kill -9`` of the provider makes it unhealthy after
the timeout and the consumer's resolution ``unresolved``; SIGTERM of the consumer sends DELETE and
it is unhealthy at once. The same scenario also runs against the real Go registry, which proves the
test itself describes the reference behaviour.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit.agents import MeshAgent, call_tool_async
from tests.compat.agent_processes import start_serving_agent, wait_for
from tests.compat.go_registry import run_go_registry
from tests.processes import RunningProcess, run_registry

AGENT_TIMEOUT_S = 3
STARTUP_TIMEOUT_S = 45.0  # importing mcp-mesh and fastmcp takes a few seconds on 2 busy cores

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(
    params=[
        pytest.param("ours", marks=pytest.mark.agents),
        pytest.param("go", marks=[pytest.mark.agents, pytest.mark.gocompat]),
    ]
)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningProcess]:
    """Our registry, or the Go one, with a short agent timeout and a fast health monitor."""
    if request.param == "ours":
        env = {"AGENT_TIMEOUT": f"{AGENT_TIMEOUT_S}s", "HEALTH_CHECK_INTERVAL": "1s"}
        with run_registry(tmp_path, env) as running:
            yield running
    else:
        request.getfixturevalue("go_registry_bin")
        env = {"DEFAULT_TIMEOUT_THRESHOLD": str(AGENT_TIMEOUT_S), "HEALTH_CHECK_INTERVAL": "1"}
        with run_go_registry(tmp_path, env) as running:
            yield running


def list_agents(registry: RunningProcess) -> list[dict[str, Any]]:
    """``GET /agents`` as a list (the Go registry answers ``null`` for none)."""
    response = httpx.get(registry.url + "/agents", timeout=5)
    response.raise_for_status()
    return list(response.json().get("agents") or [])


def agent_named(registry: RunningProcess, name: str) -> dict[str, Any] | None:
    """The newest listed agent whose name is ``name``, if any."""
    matches = [agent for agent in list_agents(registry) if agent.get("name") == name]
    return max(matches, key=lambda agent: str(agent.get("created_at")), default=None)


def greeting_resolution(consumer: dict[str, Any]) -> dict[str, Any] | None:
    """The consumer's recorded resolution of its ``greeting`` dependency."""
    for item in consumer.get("dependency_resolutions") or []:
        if item.get("capability") == "greeting":
            return dict(item)
    return None


def head_requests_seen(registry: RunningProcess) -> float | None:
    """HEAD /heartbeat requests counted by the registry's metrics; None when it has none (Go)."""
    response = httpx.get(registry.url + "/metrics", timeout=5)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        if not family.name.endswith("requests"):  # the parser strips the counter's _total suffix
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_total")
                and labels.get("method") == "HEAD"
                and "heartbeat" in labels.get("route", labels.get("path", ""))
            ):
                total += sample.value
    return total


def run_agent(script: str, registry_url: str, workdir: Path) -> MeshAgent:
    """One of tests/compat/agents/ against registry_url, heartbeating every second (use it in a with).

    Started again when mcp-mesh's occasional double server start leaves its MCP endpoint dead.
    """
    return start_serving_agent(script, registry_url, workdir)


def smart_greet_answers(consumer: MeshAgent, expected: str, timeout: float = 20.0) -> None:
    """Wait until the consumer's tool answers ``expected`` (its MCP endpoint may still be starting)."""
    answers: list[str] = []

    def answer_is_expected() -> bool:
        try:
            answers.append(asyncio.run(call_tool_async(consumer, "smart_greet", name="lab")))
        except Exception as exc:  # an MCP endpoint that is not up yet answers with an error
            answers.append(f"error: {exc!r}")
        return answers[-1] == expected

    wait_for(
        answer_is_expected,
        timeout=timeout,
        interval=1.0,
        what=f"smart_greet to answer {expected!r}",
        describe=lambda: f"answers so far: {answers[-3:]}\nassistant log:\n{consumer.log()[-3000:]}",
    )


def test_provider_and_consumer_lifecycle(registry: RunningProcess, tmp_path: Path) -> None:
    def state() -> str:
        return f"GET /agents: {list_agents(registry)}\nregistry log tail:\n{registry.log()[-2000:]}"

    with (
        run_agent("greeter", registry.url, tmp_path) as greeter,
        run_agent("assistant", registry.url, tmp_path) as assistant,
    ):
        # Both register; the provider with its capability, version and endpoint.
        provider = wait_for(
            lambda: (a := agent_named(registry, "greeter")) and a["status"] == "healthy" and a,
            timeout=STARTUP_TIMEOUT_S,
            what="the greeter agent to register healthy",
            describe=lambda: f"{state()}\ngreeter log:\n{greeter.log()[-3000:]}",
        )
        assert provider["endpoint"] == greeter.endpoint
        greeting = [c for c in provider["capabilities"] if c["name"] == "greeting"]
        assert greeting, provider["capabilities"]
        assert greeting[0]["version"] == "1.2.0"
        assert greeting[0]["function_name"] == "greet"

        # The consumer's dependency resolves to the provider's endpoint, in the registry ...
        consumer = wait_for(
            lambda: (
                (a := agent_named(registry, "assistant"))
                and (r := greeting_resolution(a))
                and r["status"] == "available"
                and a
            ),
            timeout=STARTUP_TIMEOUT_S,
            what="the assistant's greeting dependency to resolve",
            describe=lambda: f"{state()}\nassistant log:\n{assistant.log()[-3000:]}",
        )
        resolution = greeting_resolution(consumer)
        assert resolution is not None
        assert resolution["provider_agent_id"] == provider["id"]
        assert resolution["endpoint"] == greeter.endpoint
        assert consumer["total_dependencies"] == 1
        assert consumer["dependencies_resolved"] == 1

        # ... and in the agent itself: it says so, and its tool really calls the provider.
        wait_for(
            lambda: (
                f"Dependency 'greeting' at smart_greet:0 available at {greeter.endpoint}" in assistant.log()
            ),
            timeout=10,
            what="the assistant to log the resolved dependency",
            describe=lambda: assistant.log()[-3000:],
        )
        smart_greet_answers(assistant, "Hello from greeter, lab!")

        # HEADs arrive every heartbeat interval (1 s here) from both agents.
        heads_before = head_requests_seen(registry)
        seen_before = {provider["id"]: provider["last_seen"], consumer["id"]: consumer["last_seen"]}
        observed: dict[str, set[str]] = {agent_id: set() for agent_id in seen_before}

        def heartbeats_arrived() -> bool:
            for agent in list_agents(registry):
                if agent["id"] in observed and agent["last_seen"] != seen_before[agent["id"]]:
                    observed[agent["id"]].add(agent["last_seen"])
            if heads_before is not None:
                heads_now = head_requests_seen(registry) or 0.0
                return heads_now - heads_before >= 6
            return all(len(values) >= 2 for values in observed.values())

        wait_for(
            heartbeats_arrived,
            timeout=8,
            what="at least 3 HEAD heartbeats from each agent",
            describe=lambda: (
                f"HEADs before {heads_before}, now {head_requests_seen(registry)}; "
                f"last_seen values seen {observed}"
            ),
        )

        # kill -9 of the provider: unhealthy after the timeout, the consumer's resolution unresolved.
        greeter.proc.send_signal(signal.SIGKILL)
        greeter.proc.wait(timeout=10)
        wait_for(
            lambda: (a := agent_named(registry, "greeter")) and a["status"] == "unhealthy",
            timeout=AGENT_TIMEOUT_S + 8,
            what=f"the killed greeter to turn unhealthy (AGENT_TIMEOUT {AGENT_TIMEOUT_S}s)",
            describe=state,
        )
        wait_for(
            lambda: (
                (a := agent_named(registry, "assistant"))
                and (r := greeting_resolution(a))
                and r["status"] == "unresolved"
            ),
            timeout=10,
            what="the assistant's greeting resolution to turn unresolved",
            describe=state,
        )
        wait_for(
            lambda: "Dependency 'greeting' at smart_greet:0 removed" in assistant.log(),
            timeout=10,
            what="the assistant to drop its greeting dependency",
            describe=lambda: assistant.log()[-3000:],
        )
        smart_greet_answers(assistant, "greeting dependency unresolved")

        # SIGTERM of the consumer: it sends DELETE and is unhealthy at once, with an unregister event.
        assistant.proc.send_signal(signal.SIGTERM)
        assistant.proc.wait(timeout=20)
        assert "unregistered successfully (HTTP 204)" in assistant.log(), assistant.log()[-3000:]
        gone = agent_named(registry, "assistant")
        assert gone is not None
        assert gone["status"] == "unhealthy", state()
        events = httpx.get(
            registry.url + "/events", params={"agent_id": gone["id"], "type": "unregister"}, timeout=5
        ).json()
        assert [event["event_type"] for event in events["events"]] == ["unregister"], events
