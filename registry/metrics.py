"""Prometheus metrics on a per-app CollectorRegistry (never the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

AGENT_STATUSES = ("healthy", "unhealthy")


class RegistryMetrics:
    """Every metric the registry exports, and their text rendering."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.agents = Gauge(
            "mcp_registry_agents_total", "Registered agents by status", ["status"], registry=self.registry
        )
        self.requests = Counter(
            "mcp_registry_requests",
            "HTTP requests by method, route rule and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mcp_registry_errors",
            "Errors: server failures and rejected registrations",
            ["kind"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "mcp_registry_request_duration_seconds",
            "HTTP request duration by method and route rule",
            ["method", "route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.heartbeats = Counter(
            "mcp_registry_heartbeats",
            "Agent heartbeats by kind (full = POST /heartbeat, fast = HEAD) and result",
            ["kind", "result"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "mcp_registry_leader", "1 when this replica is the leader", registry=self.registry
        )
        self.leader_transitions = Gauge(
            "mcp_registry_leader_transitions",
            "Leadership changes seen by this replica",
            registry=self.registry,
        )
        self.monitor_runs = Counter(
            "mcp_registry_health_checks", "Health monitor passes that ran", registry=self.registry
        )
        self.marked_unhealthy = Counter(
            "mcp_registry_agents_marked_unhealthy",
            "Agents the monitor marked unhealthy",
            registry=self.registry,
        )
        self.purged = Counter(
            "mcp_registry_agents_purged", "Agents purged after retention", registry=self.registry
        )
        for status in AGENT_STATUSES:
            self.agents.labels(status=status).set(0)
        self.errors.labels(kind="server")

    def set_agent_counts(self, counts: dict[str, int]) -> None:
        for status in {*AGENT_STATUSES, *counts}:
            self.agents.labels(status=status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
