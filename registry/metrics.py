"""Prometheus metrics on a per-app CollectorRegistry (never the process-global one).

Names follow Prometheus conventions (base units, ``_seconds`` on durations, ``_total`` on counters), except
the guide's ``mcp_registry_agents_total``: the guide names a gauge with a counter's suffix, so it is kept as
the guide spells it, exported untyped (a typed gauge named ``_total`` fails ``promtool check metrics``), and
the conventional gauge ``mcp_registry_agents`` carries the same numbers beside it.

The request path calls ``request_done`` and ``heartbeat`` on every request: their label children are
looked up once per label set and kept, so counting costs two increments and an observation.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import Metric, UnknownMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

AGENT_STATUSES = ("healthy", "unhealthy")
GUIDE_AGENTS_NAME = "mcp_registry_agents_total"


def one_two_five(first: float, last: float) -> tuple[float, ...]:
    """Histogram bounds stepping 1-2.5-5 per decade from ``first`` to ``last`` (both on that ladder)."""
    bounds = [float(f"{mantissa}e{exponent}") for exponent in range(-9, 9) for mantissa in ("1", "2.5", "5")]
    return tuple(bound for bound in bounds if first <= bound <= last)


# Measured on this registry (loopback, one client): HEAD /heartbeat took 0.05-0.3 ms (58% within 0.1 ms,
# 80% within 0.25 ms) and POST /heartbeat 0.25-1 ms (65% within 0.5 ms, 91% within 1 ms). So the buckets
# start at 50 µs and go up to 10 s (a long-poll or a stalled database).
REQUEST_BUCKETS = one_two_five(0.00005, 10.0)
# A SQLite statement takes tens of microseconds; a PostgreSQL round trip about a millisecond.
STATEMENT_BUCKETS = one_two_five(0.00001, 5.0)
FLUSH_BUCKETS = one_two_five(0.0005, 5.0)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)

# Counters and histograms get no ``_created`` series: they double the series count and nothing reads them.
disable_created_metrics()


class _GuideAgentsTotal:
    """The guide's ``mcp_registry_agents_total``, untyped, with the same values as the gauge beside it."""

    def __init__(self, counts: dict[str, int]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = UnknownMetricFamily(
            GUIDE_AGENTS_NAME,
            "Registered agents by status (the guide's name; the same values as mcp_registry_agents)",
            labels=["status"],
        )
        for status, count in sorted(self._counts.items()):
            family.add_metric([status], count)
        yield family


class RegistryMetrics:
    """Every metric the registry exports, the cached children of the hot path, and the text rendering."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        GCCollector(registry=r)  # full (generation 2) collections pause every request
        self._agent_counts: dict[str, int] = dict.fromkeys(AGENT_STATUSES, 0)
        r.register(_GuideAgentsTotal(self._agent_counts))
        self.agents = Gauge("mcp_registry_agents", "Registered agents by status", ["status"], registry=r)
        self.requests = Counter(
            "mcp_registry_requests",
            "HTTP requests by method, route rule and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.errors = Counter(
            "mcp_registry_errors",
            "Errors: server failures (5xx), database failures, rejected registrations",
            ["kind"],
            registry=r,
        )
        self.duration = Histogram(
            "mcp_registry_request_duration_seconds",
            "HTTP request duration by method and route rule, from the request to the last byte sent",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.heartbeats = Counter(
            "mcp_registry_heartbeats",
            "Agent heartbeats by kind (full = POST /heartbeat, fast = HEAD) and result",
            ["kind", "result"],
            registry=r,
        )
        self.leader = Gauge("mcp_registry_leader", "1 while this replica is the leader", registry=r)
        self.leader_election_enabled = Gauge(
            "mcp_registry_leader_election_enabled",
            "1 when leadership comes from a Kubernetes Lease, 0 when every replica leads",
            registry=r,
        )
        self.leader_acquisitions = Counter(
            "mcp_registry_leader_acquisitions",
            "Times this replica started leading (took or created the Lease)",
            registry=r,
        )
        self.leader_transitions = Gauge(
            "mcp_registry_leader_transitions",
            "The Lease's leaseTransitions as this replica last read it (holder changes, cluster-wide)",
            registry=r,
        )
        self.statement_duration = Histogram(
            "mcp_registry_database_statement_duration_seconds",
            "Database statement duration by operation (select, insert, update, delete, other)",
            ["operation"],
            buckets=STATEMENT_BUCKETS,
            registry=r,
        )
        self.statement_errors = Counter(
            "mcp_registry_database_errors",
            "Database statements that raised, by operation",
            ["operation"],
            registry=r,
        )
        self.flush_batch = Histogram(
            "mcp_registry_last_seen_flush_batch_size",
            "Agents whose last-seen times one flush of the batched writer wrote",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.flush_duration = Histogram(
            "mcp_registry_last_seen_flush_duration_seconds",
            "Duration of one flush of the batched last-seen writer",
            buckets=FLUSH_BUCKETS,
            registry=r,
        )
        self.flush_lag = Gauge(
            "mcp_registry_last_seen_lag_seconds",
            "Age of the oldest last-seen time at the last flush: how far the database trailed memory",
            registry=r,
        )
        self.flush_failures = Counter(
            "mcp_registry_last_seen_flush_failures",
            "Flushes of the batched last-seen writer that failed (the times are kept for the next one)",
            registry=r,
        )
        self.monitor_runs = Counter(
            "mcp_registry_health_checks", "Health monitor passes that ran", registry=r
        )
        self.marked_unhealthy = Counter(
            "mcp_registry_agents_marked_unhealthy", "Agents the monitor marked unhealthy", registry=r
        )
        self.purged = Counter("mcp_registry_agents_purged", "Agents purged after retention", registry=r)
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram, bool]] = {}
        self._heartbeat_children: dict[tuple[str, str | int], Counter] = {}
        self._error_children: dict[str, Counter] = {}
        self._statement_children: dict[str, tuple[Histogram, Counter]] = {}
        self._acquisitions_counted = 0
        for status in AGENT_STATUSES:
            self.agents.labels(status=status).set(0)
        self._error_children["server"] = self.errors.labels(kind="server")  # exported at 0 from the start

    # -- the hot path: cached children -----------------------------------------------------------------

    def request_done(self, method: str, route: str, status: int, elapsed: float) -> None:
        """One answered request: its count, its duration and, for a 5xx, a server error."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
                status >= 500,
            )
            self._request_children[key] = children
        count, duration, server_error = children
        count.inc()
        duration.observe(elapsed)
        if server_error:
            self.error("server")

    def heartbeat(self, kind: str, result: str | int) -> None:
        """One heartbeat of ``kind`` (full, fast) with its ``result`` (a fast one's is its HTTP status)."""
        child = self._heartbeat_children.get((kind, result))
        if child is None:
            child = self.heartbeats.labels(kind=kind, result=str(result))
            self._heartbeat_children[kind, result] = child
        child.inc()

    def error(self, kind: str) -> None:
        """One error of ``kind`` (server, database, validation)."""
        child = self._error_children.get(kind)
        if child is None:
            child = self._error_children[kind] = self.errors.labels(kind=kind)
        child.inc()

    def statement_done(self, operation: str, seconds: float) -> None:
        """One database statement that returned (called from any thread)."""
        self._statement(operation)[0].observe(seconds)

    def statement_failed(self, operation: str) -> None:
        """One database statement that raised (called from any thread)."""
        self._statement(operation)[1].inc()

    def _statement(self, operation: str) -> tuple[Histogram, Counter]:
        children = self._statement_children.get(operation)
        if children is None:
            children = (self.statement_duration.labels(operation), self.statement_errors.labels(operation))
            self._statement_children[operation] = children
        return children

    # -- the batched last-seen writer ----------------------------------------------------------------

    def flush_done(self, agents: int, seconds: float, lag: float) -> None:
        """One flush of the last-seen writer that wrote ``agents`` times, the oldest ``lag`` seconds old."""
        self.flush_batch.observe(agents)
        self.flush_duration.observe(seconds)
        self.flush_lag.set(max(0.0, lag))

    def flush_failed(self) -> None:
        self.flush_failures.inc()

    # -- refreshed on each scrape ---------------------------------------------------------------------

    def set_agent_counts(self, counts: dict[str, int]) -> None:
        """The agents by status, in both the guide's series and the conventional gauge."""
        for status in {*AGENT_STATUSES, *counts}:
            value = counts.get(status, 0)
            self._agent_counts[status] = value
            self.agents.labels(status=status).set(value)

    def set_leadership(self, enabled: bool, is_leader: bool, acquisitions: int, transitions: int) -> None:
        """The leadership flags and counts, as the Leadership object reports them now."""
        self.leader_election_enabled.set(1 if enabled else 0)
        self.leader.set(1 if is_leader else 0)
        self.leader_transitions.set(transitions)
        if acquisitions > self._acquisitions_counted:
            self.leader_acquisitions.inc(acquisitions - self._acquisitions_counted)
            self._acquisitions_counted = acquisitions

    def render(self) -> bytes:
        return generate_latest(self.registry)
