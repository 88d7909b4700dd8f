"""A soak: a large mesh heartbeating at a realistic rate for minutes, with the registry's own timeouts.

Each of ``agents`` simulated agents sends ``HEAD /heartbeat/{id}`` every ``head_every`` seconds and
re-posts its (unchanged) heartbeat every ``post_every`` seconds, phases spread evenly, as a deployed
mesh does. Latency runs from the moment a request was due to its answer, so a registry that falls
behind shows it (no coordinated omission). Every ``window`` seconds the soak records per-window
percentiles, the registry's CPU share and resident memory, how many full (generation-2) garbage
collections ours ran (each pauses every request), and how many agents ``GET /agents`` lists as not
healthy: with the registry's default timeouts, any such agent is a false alarm.

The load generator must not slow itself down and blame the registry: its agents are all started before
the first is due (``WARM_UP_S``), and the observer reads and parses the listings and metrics in a process
of its own, since parsing 10,000 agents holds the generator's interpreter for a good part of a second.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.mesh import agent_id, heartbeat_payload
from bench.process_use import cpu_seconds, resident_bytes
from bench.rawhttp import RawClient

WARM_UP_S = 2.0
"""Seconds between starting the simulated agents and the first one being due."""


@dataclass
class Window:
    """One window of the soak."""

    ends_s: float
    head_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_share: float = 0.0
    rss_mib: float = 0.0
    not_healthy: int = 0
    full_collections: int | None = None
    """Generation-2 collections in the window, for a registry that exports them (ours)."""


@dataclass
class SoakResult:
    """The windows, and the most agents ever listed as not healthy at once."""

    windows: list[Window]
    behind: int = 0
    """Requests still due when the soak ended: a registry that cannot keep up leaves a backlog."""

    @property
    def false_unhealthy(self) -> int:
        return max((w.not_healthy for w in self.windows), default=0)


def full_collections(metrics_url: str) -> int:
    """How many generation-2 collections the process behind ``metrics_url`` has run."""
    response = httpx.get(metrics_url, timeout=30)
    response.raise_for_status()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "python_gc_collections_total" and sample.labels.get("generation") == "2":
                return int(sample.value)
    raise ValueError(f'{metrics_url} exports no python_gc_collections_total{{generation="2"}}')


def not_healthy(url: str) -> int:
    """How many agents GET /agents lists with a status other than healthy."""
    response = httpx.get(url + "/agents", timeout=120)
    response.raise_for_status()
    return sum(1 for a in response.json().get("agents") or [] if a.get("status") != "healthy")


async def _agent(
    index: int,
    agents: int,
    client: RawClient,
    t0: float,
    end: float,
    settings: SoakSettings,
    out: list[Window],
) -> int:
    """Heartbeat on schedule until ``end``; return how many requests were due and not sent by then."""
    body = orjson.dumps(heartbeat_payload(index))
    path = f"/heartbeat/{agent_id(index)}"
    next_head = t0 + settings.head_every * index / agents
    next_post = t0 + settings.post_every * index / agents
    while True:
        due = min(next_head, next_post)
        if due >= end:
            return 0
        if time.monotonic() >= end:  # fallen behind: count what is still due rather than send it late
            heads = int((end - next_head) // settings.head_every) + 1 if next_head < end else 0
            posts = int((end - next_post) // settings.post_every) + 1 if next_post < end else 0
            return heads + posts
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        posting = next_post <= next_head
        response = (
            await client.request("POST", "/heartbeat", body)
            if posting
            else await client.request("HEAD", path)
        )
        done = time.monotonic()
        window = out[min(len(out) - 1, int((done - t0) // settings.window))]
        (window.post_ms if posting else window.head_ms).append((done - due) * 1000)
        if response.status not in (200, 202):
            window.errors += 1
        if posting:
            next_post += settings.post_every
        else:
            next_head += settings.head_every


@dataclass(frozen=True)
class SoakSettings:
    """The soak's shape."""

    seconds: float = 300.0
    head_every: float = 5.0
    post_every: float = 60.0
    window: float = 30.0
    connections: int = 64


async def _observe(
    url: str,
    pid: int,
    metrics_url: str | None,
    t0: float,
    settings: SoakSettings,
    out: list[Window],
    reader: Executor,
) -> None:
    loop = asyncio.get_running_loop()
    cpu = cpu_seconds(pid)
    collections = await loop.run_in_executor(reader, full_collections, metrics_url) if metrics_url else None
    for window in out:
        await asyncio.sleep(max(0.0, t0 + window.ends_s - time.monotonic()))
        now_cpu = cpu_seconds(pid)
        window.cpu_share = (now_cpu - cpu) / settings.window
        cpu = now_cpu
        window.rss_mib = resident_bytes(pid) / 2**20
        if metrics_url and collections is not None:
            now_collections = await loop.run_in_executor(reader, full_collections, metrics_url)
            window.full_collections, collections = now_collections - collections, now_collections
        window.not_healthy = await loop.run_in_executor(reader, not_healthy, url)


async def soak(
    url: str, pid: int, agents: int, settings: SoakSettings, metrics_url: str | None = None
) -> SoakResult:
    """Run the soak on the registered mesh of ``agents`` agents served at ``url`` by process ``pid``;
    ``metrics_url``: where the process exports its garbage collections (ours), to count the full ones."""
    count = max(1, round(settings.seconds / settings.window))
    windows = [Window(ends_s=settings.window * (k + 1)) for k in range(count)]
    client = RawClient(url, settings.connections)
    reader = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    t0 = time.monotonic() + WARM_UP_S
    end = t0 + settings.window * count
    observing = asyncio.ensure_future(_observe(url, pid, metrics_url, t0, settings, windows, reader))
    try:
        behind = await asyncio.gather(
            *(_agent(i, agents, client, t0, end, settings, windows) for i in range(agents))
        )
        await observing
    finally:
        observing.cancel()
        await client.close()
        reader.shutdown()
    return SoakResult(windows, behind=sum(behind))


def run_soak(
    url: str, pid: int, agents: int, settings: SoakSettings, metrics_url: str | None = None
) -> SoakResult:
    """The soak, synchronously."""
    return asyncio.run(soak(url, pid, agents, settings, metrics_url))
