"""MeshJob round trips and the /proxy hop: our registry against the Go registry, one after the other.

A benchmark, not a test: it prints figures and never fails on them. Rows:

- ``job round trip``: submit (``POST /jobs``), claim (``POST /jobs/claim``), complete (``POST
  /jobs/batch``) and read back (``GET /jobs/{id}``) one job, by ``--concurrency`` workers for
  ``--duration`` seconds; jobs per second and p50/p99 of a whole round trip.
- ``POST /proxy/.../mcp``: a JSON answer from a loopback stand-in agent through the registry's
  proxy, same workers; requests per second and latency, with the direct call to the agent for scale.

    .venv/bin/python -m bench.jobs [--only ours|go] [--duration 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.compat.go_registry import GoRegistryUnavailable, go_registry_binary, run_go_registry
from tests.processes import free_port, run_registry

PROVIDER = "bench-worker-0001"


class JsonAgent(BaseHTTPRequestHandler):
    """Answers every POST at /mcp with a small JSON body, keep-alive."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"jsonrpc":"2.0","id":1,"result":{"ok":true}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def timed_loop(
    work: Callable[[httpx.AsyncClient], Awaitable[None]], base: str, seconds: float, workers: int
) -> tuple[float, list[float]]:
    """Run ``work`` in ``workers`` loops for ``seconds``; (completions per second, latencies in ms)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await work(client)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(workers)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


async def job_round_trip(client: httpx.AsyncClient) -> None:
    body = {"capability": "bench", "submitted_by": "bench", "submitted_payload": {"n": 1}}
    created = await client.post("/jobs", json=body)
    created.raise_for_status()
    claimed = (await client.post("/jobs/claim", json={"capability": "bench", "instance_id": PROVIDER})).json()
    for job in claimed["claimed"]:
        delta = {
            "id": job["id"],
            "claim_epoch": job["claim_epoch"],
            "status": "completed",
            "result": {"ok": True},
        }
        (
            await client.post("/jobs/batch", json={"instance_id": PROVIDER, "deltas": [delta]})
        ).raise_for_status()
        (await client.get(f"/jobs/{job['id']}")).raise_for_status()


def measure(
    name: str, base: str, agent_port: int, seconds: float, workers: int
) -> dict[str, tuple[float, float, float]]:
    """Register the worker and the stand-in agent, then run both rows against ``base``."""
    tools = [
        {
            "function_name": "work",
            "capability": "bench",
            "version": "1.0.0",
            "tags": [],
            "kwargs": {"task": True},
        }
    ]
    httpx.post(
        base + "/heartbeat", json={"agent_id": PROVIDER, "tools": tools}, timeout=10
    ).raise_for_status()
    agent = {"agent_id": "bench-agent-0001", "http_host": "127.0.0.1", "http_port": agent_port, "tools": []}
    httpx.post(base + "/heartbeat", json=agent, timeout=10).raise_for_status()
    rows = {}
    rate, latencies = asyncio.run(timed_loop(job_round_trip, base, seconds, workers))
    rows["job round trip"] = (rate, percentile(latencies, 0.5), percentile(latencies, 0.99))
    path = f"/proxy/127.0.0.1:{agent_port}/mcp"
    errors: list[
        int
    ] = []  # non-200 answers (Go's proxy reports 502 when the agent closes an idle connection)

    async def proxied(client: httpx.AsyncClient) -> None:
        ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
        answer = await client.post(path, content=ping, headers={"Content-Type": "application/json"})
        if answer.status_code != 200:
            errors.append(answer.status_code)

    rate, latencies = asyncio.run(timed_loop(proxied, base, seconds, workers))
    rows["POST /proxy/.../mcp"] = (rate, percentile(latencies, 0.5), percentile(latencies, 0.99))
    print(f"  {name}: done; proxy answers other than 200: {len(errors)} of {len(latencies)}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("ours", "go"))
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 256  # the workers' connections all arrive at once
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), JsonAgent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    agent_port = int(server.server_address[1])
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    quiet = {
        "LOG_LEVEL": "warning",
        "MCP_MESH_LOG_LEVEL": "WARNING",
        "AGENT_TIMEOUT": "1h",
        "DEFAULT_TIMEOUT_THRESHOLD": "3600",
    }
    with tempfile.TemporaryDirectory() as scratch:
        if args.only in (None, "ours"):
            with run_registry(Path(scratch), quiet) as ours:
                results["ours"] = measure("ours", ours.url, agent_port, args.duration, args.concurrency)
        if args.only in (None, "go"):
            try:
                go_registry_binary()
            except GoRegistryUnavailable as exc:
                print(f"  go: skipped ({exc})")
            else:
                with run_go_registry(Path(scratch), quiet) as go:
                    results["go"] = measure("go", go.url, agent_port, args.duration, args.concurrency)
    direct_rate, direct = asyncio.run(
        timed_loop(_direct, f"http://127.0.0.1:{agent_port}", args.duration, args.concurrency)
    )
    server.shutdown()
    print(f"\n{'row':<22} {'registry':<8} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for row in ("job round trip", "POST /proxy/.../mcp"):
        for name, rows in results.items():
            rate, p50, p99 = rows[row]
            print(f"{row:<22} {name:<8} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}")
    p50, p99 = percentile(direct, 0.5), percentile(direct, 0.99)
    print(f"{'agent direct':<22} {'-':<8} {direct_rate:>9.0f} {p50:>8.2f} {p99:>8.2f}")


async def _direct(client: httpx.AsyncClient) -> None:
    (await client.post("/mcp", content=b"{}")).raise_for_status()


if __name__ == "__main__":
    main()
