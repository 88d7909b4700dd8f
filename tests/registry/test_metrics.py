"""Prometheus metrics: names, labels by route rule, agent counts, heartbeats, leadership, database statements,
the last-seen writer, the process collector, both apps."""

from __future__ import annotations

import gc

import pytest
import sqlalchemy as sa
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


async def test_the_guides_agents_total_is_untyped_beside_the_conventional_gauge(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    response = await registry.client.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(await response.get_data(as_text=True))}
    assert families["mcp_registry_agents_total"].type == "unknown", "untyped: a gauge may not end in _total"
    assert families["mcp_registry_agents"].type == "gauge"
    guide = {s.labels["status"]: s.value for s in families["mcp_registry_agents_total"].samples}
    gauge = {s.labels["status"]: s.value for s in families["mcp_registry_agents"].samples}
    assert guide == gauge == {"healthy": 1, "unhealthy": 0}


class _Elected:
    """A replica under leader election that has started leading ``acquisitions`` times."""

    enabled = True
    is_leader = True
    transitions = 5

    def __init__(self) -> None:
        self.acquisitions = 2

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def describe(self) -> dict[str, object]:
        return {"enabled": True, "is_leader": self.is_leader}


async def test_leadership_flags_and_acquisitions(registry: Harness) -> None:
    got = await scrape(registry)
    assert got[("mcp_registry_leader_election_enabled", frozenset())] == 0
    assert got[("mcp_registry_leader_acquisitions_total", frozenset())] == 0, "election off acquires nothing"
    elected = _Elected()
    registry.runtime.leadership = elected
    got = await scrape(registry)
    assert got[("mcp_registry_leader_election_enabled", frozenset())] == 1
    assert got[("mcp_registry_leader_acquisitions_total", frozenset())] == 2
    assert got[("mcp_registry_leader_transitions", frozenset())] == 5
    elected.acquisitions, elected.is_leader = 3, False
    got = await scrape(registry)
    assert got[("mcp_registry_leader_acquisitions_total", frozenset())] == 3
    assert got[("mcp_registry_leader", frozenset())] == 0


async def test_database_statements_are_timed_and_failures_counted(registry: Harness) -> None:
    await registry.register("agent-a", [tool("f", "a")])
    with pytest.raises(sa.exc.OperationalError):
        await registry.runtime.storage.run_read(lambda conn: conn.execute(sa.text("SELECT x FROM nowhere")))
    got = await scrape(registry)
    insert = frozenset({("operation", "insert")})
    assert got[("mcp_registry_database_statement_duration_seconds_count", insert)] >= 1
    assert got[("mcp_registry_database_statement_duration_seconds_sum", insert)] > 0
    assert got[("mcp_registry_database_errors_total", frozenset({("operation", "select")}))] == 1
    assert got.get(("mcp_registry_database_errors_total", insert), 0) == 0


async def test_the_last_seen_writer_reports_each_flush(registry: Harness) -> None:
    await registry.pause_background()
    for agent in ("agent-a", "agent-b"):
        await registry.register(agent, [tool("f", agent)])
        assert await registry.head(f"/heartbeat/{agent}") == 200
    await registry.runtime.liveness.flush()
    got = await scrape(registry)
    assert got[("mcp_registry_last_seen_flush_batch_size_count", frozenset())] == 1
    assert got[("mcp_registry_last_seen_flush_batch_size_sum", frozenset())] == 2, "both agents in one batch"
    assert got[("mcp_registry_last_seen_flush_duration_seconds_count", frozenset())] == 1
    assert 0 <= got[("mcp_registry_last_seen_lag_seconds", frozenset())] < 60
    assert got[("mcp_registry_last_seen_flush_failures_total", frozenset())] == 0


async def test_a_failed_flush_is_counted_and_keeps_the_times(
    registry: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await registry.pause_background()
    await registry.register("agent-a", [tool("f", "a")])
    assert await registry.head("/heartbeat/agent-a") == 200

    async def database_away(*_: object) -> None:
        raise OSError("database away")

    monkeypatch.setattr(registry.runtime.storage, "touch", database_away)
    with pytest.raises(OSError, match="database away"):
        await registry.runtime.liveness.flush()
    assert "agent-a" in registry.runtime.liveness.pending_seen
    assert registry.runtime.metrics.flush_failures._value.get() == 1
    assert registry.runtime.metrics.flush_batch._sum.get() == 0, "a failed flush wrote no batch"


async def test_the_process_collector_is_exported(registry: Harness) -> None:
    got = await scrape(registry)
    assert got[("process_cpu_seconds_total", frozenset())] > 0
    assert got[("process_resident_memory_bytes", frozenset())] > 0


async def test_the_garbage_collections_are_exported(registry: Harness) -> None:
    before = (await scrape(registry))[("python_gc_collections_total", frozenset({("generation", "2")}))]
    gc.collect()
    after = (await scrape(registry))[("python_gc_collections_total", frozenset({("generation", "2")}))]
    assert after >= before + 1
