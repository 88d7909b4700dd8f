"""Prometheus metrics: names, labels by route rule, agent counts, heartbeat counters, both apps."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from registry.app import create_metrics_app
from tests.registry.conftest import Harness, tool

pytestmark = pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(registry: Harness) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await registry.client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return samples(await response.get_data(as_text=True))


async def test_metrics_count_requests_agents_and_heartbeats(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    await registry.register("agent-b", [tool("f", "b")])
    await registry.client.delete("/agents/agent-b")
    for _ in range(3):
        await registry.head("/heartbeat/agent-a")
    await registry.head("/heartbeat/agent-b")
    await registry.client.post("/heartbeat", json={"agent_id": "Bad"})
    await registry.client.get("/nowhere")
    got = await scrape(registry)
    assert got[("mcp_registry_agents_total", frozenset({("status", "healthy")}))] == 1
    assert got[("mcp_registry_agents_total", frozenset({("status", "unhealthy")}))] == 1
    head = frozenset({("method", "HEAD"), ("route", "/heartbeat/<agent_id>"), ("status", "202")})
    assert got[("mcp_registry_requests_total", head)] == 3, "labelled by rule, not by raw path"
    assert got[("mcp_registry_heartbeats_total", frozenset({("kind", "fast"), ("result", "410")}))] == 1
    assert got[("mcp_registry_heartbeats_total", frozenset({("kind", "full"), ("result", "ok")}))] == 2
    assert got[("mcp_registry_errors_total", frozenset({("kind", "validation")}))] == 1
    unmatched = frozenset({("method", "GET"), ("route", "<unmatched>"), ("status", "404")})
    assert got[("mcp_registry_requests_total", unmatched)] == 1
    count = frozenset({("method", "POST"), ("route", "/heartbeat")})
    assert got[("mcp_registry_request_duration_seconds_count", count)] == 3
    assert got[("mcp_registry_leader", frozenset())] == 1


async def test_metrics_app_serves_the_same_registry(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    client = create_metrics_app(registry.runtime).test_client()
    response = await client.get("/metrics")
    got = samples(await response.get_data(as_text=True))
    assert got[("mcp_registry_agents_total", frozenset({("status", "healthy")}))] == 1
    assert (await client.get("/agents")).status_code == 404, "the metrics port serves only /metrics"


async def test_each_app_has_its_own_collector_registry(registry: Harness, make_registry: object) -> None:
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("mcp_registry_agents_total", {"status": "healthy"}) is None
