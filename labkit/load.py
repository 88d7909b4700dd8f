"""The load generator: the guide's load test, generalised (N requests at concurrency C).

On aiohttp: at 50 connections on loopback httpx's async client sent 150-200 requests/s to a registry that
answers wrk and aiohttp at 1,100-1,700, so the lesson's figures measured the client, not the registry.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pandas as pd

from labkit.errors import BadParameter, RegistryUnavailable, require_type
from labkit.progress import progress_bar
from labkit.registry_client import normalise_url
from labkit.sync import run_sync

KINDS = ("register", "heartbeat", "fast-heartbeat")
RESULT_COLUMNS = ["index", "started", "latency_s", "status", "ok", "error"]


@dataclass
class LoadResult:
    """What a load test measured: one row per request (``df``) and the ``summary`` figures."""

    df: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<LoadResult {s.get('requests')} requests in {s.get('duration_s', 0):.2f}s: "
            f"{s.get('throughput_rps', 0):.1f} req/s, p95 {s.get('p95_ms', 0):.1f} ms, "
            f"success {100 * s.get('success_rate', 0):.1f}%>"
        )


def agent_id(prefix: str, index: int) -> str:
    """The id of the index-th synthetic agent."""
    return f"{prefix}-{index}"


def register_payload(prefix: str, index: int) -> dict[str, Any]:
    """The guide's POST /agents body for one synthetic agent."""
    return {"id": agent_id(prefix, index), "capabilities": ["test"], "endpoint": f"http://agent-{index}:8080"}


def heartbeat_payload(prefix: str, index: int) -> dict[str, Any]:
    """An MCP Mesh POST /heartbeat body for one synthetic agent with one tool."""
    return {
        "agent_id": agent_id(prefix, index),
        "name": agent_id(prefix, index),
        "version": "1.0.0",
        "http_host": f"agent-{index}",
        "http_port": 8080,
        "namespace": "default",
        "tools": [{"function_name": "test", "capability": "test", "version": "1.0.0", "tags": ["load"]}],
    }


async def one_request(session: aiohttp.ClientSession, kind: str, prefix: str, index: int) -> tuple[int, bool]:
    """Send the index-th request of a kind; return (HTTP status, whether it counts as a success)."""
    if kind == "register":
        async with session.post("/agents", json=register_payload(prefix, index)) as response:
            await response.read()
            return response.status, response.ok
    if kind == "heartbeat":
        async with session.post("/heartbeat", json=heartbeat_payload(prefix, index)) as response:
            body = await response.json(content_type=None) if response.ok else None
            ok = isinstance(body, dict) and body.get("status") == "success"
            return response.status, ok
    async with session.head(f"/heartbeat/{agent_id(prefix, index)}") as response:
        return response.status, response.status in (200, 202)


async def run_load(
    url: str, n: int, concurrency: int, kind: str, request_timeout: float, prefix: str, progress: bool
) -> tuple[list[dict[str, Any]], float]:
    """Send n requests with at most `concurrency` in flight; return per-request rows and wall time."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        if kind == "fast-heartbeat":  # the agents must exist before they can send fast heartbeats
            await asyncio.gather(*(one_request(session, "heartbeat", prefix, i) for i in range(n)))
        semaphore = asyncio.Semaphore(concurrency)
        rows: list[dict[str, Any]] = []
        bar = progress_bar(
            total=n, desc=f"{kind} ×{n} @ {concurrency}", unit="req", disable=not progress, leave=False
        )
        t0 = time.perf_counter()

        async def worker(index: int) -> None:
            async with semaphore:
                started = time.perf_counter()
                status, ok, error = 0, False, ""
                try:
                    status, ok = await one_request(session, kind, prefix, index)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                rows.append(
                    {
                        "index": index,
                        "started": started - t0,
                        "latency_s": time.perf_counter() - started,
                        "status": status,
                        "ok": ok,
                        "error": error,
                    }
                )
                bar.update(1)

        try:
            await asyncio.gather(*(worker(i) for i in range(n)))
        finally:
            bar.close()
        return rows, time.perf_counter() - t0


def summarise(df: pd.DataFrame, duration_s: float, kind: str, concurrency: int) -> dict[str, Any]:
    """The summary figures of a load test's per-request frame."""
    latencies_ms = df["latency_s"] * 1000.0
    requests = len(df)
    return {
        "kind": kind,
        "requests": requests,
        "concurrency": concurrency,
        "duration_s": duration_s,
        "throughput_rps": requests / duration_s if duration_s > 0 else 0.0,
        "p50_ms": float(latencies_ms.quantile(0.50)) if requests else 0.0,
        "p95_ms": float(latencies_ms.quantile(0.95)) if requests else 0.0,
        "p99_ms": float(latencies_ms.quantile(0.99)) if requests else 0.0,
        "success_rate": float(df["ok"].mean()) if requests else 0.0,
        "errors": int((~df["ok"]).sum()),
    }


def load_test(
    url: str,
    n: int = 100,
    concurrency: int = 100,
    kind: str = "register",
    *,
    timeout: float = 30.0,
    prefix: str = "test-agent",
    progress: bool = True,
) -> LoadResult:
    """Send n requests of a kind (``register``: POST /agents as in the guide, ``heartbeat``: POST
    /heartbeat, ``fast-heartbeat``: HEAD /heartbeat/{id}) with bounded concurrency.

    Returns a LoadResult: ``df`` (index, started, latency_s, status, ok, error) and ``summary`` (requests,
    duration_s, throughput_rps, p50_ms, p95_ms, p99_ms, success_rate, errors).
    """
    base = normalise_url(url)
    for name, value in (("n", n), ("concurrency", concurrency)):
        require_type(name, value, int)
        if value < 1:
            raise BadParameter(f"{name} must be at least 1, not {value}")
    if kind not in KINDS:
        raise BadParameter(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    rows, duration = run_sync(run_load(base, n, concurrency, kind, timeout, prefix, progress))
    df = pd.DataFrame(sorted(rows, key=lambda r: r["index"]), columns=RESULT_COLUMNS)
    if not df["ok"].any() and (df["status"] == 0).all():
        raise RegistryUnavailable(f"the registry at {base} did not answer any request: {df['error'].iloc[0]}")
    return LoadResult(df=df, summary=summarise(df, duration, kind, concurrency))


def sustained_load(
    url: str,
    n: int = 100,
    concurrency: int = 100,
    kind: str = "heartbeat",
    seconds: float = 20.0,
    *,
    timeout: float = 30.0,
    prefix: str = "test-agent",
    progress: bool = True,
) -> LoadResult:
    """``load_test`` again and again for ``seconds``: the same n agents re-posting, as real ones do, long
    enough for a 5-s scrape to draw a curve. ``df`` gains ``round``; ``started`` counts from the first."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise BadParameter(f"seconds must be a positive number, not {seconds!r}")
    rounds: list[pd.DataFrame] = []
    t0 = time.perf_counter()
    while not rounds or time.perf_counter() - t0 < seconds:
        offset = time.perf_counter() - t0
        result = load_test(url, n, concurrency, kind, timeout=timeout, prefix=prefix, progress=progress)
        rounds.append(result.df.assign(round=len(rounds), started=result.df["started"] + offset))
    df = pd.concat(rounds, ignore_index=True)
    return LoadResult(df=df, summary=summarise(df, time.perf_counter() - t0, kind, concurrency))
