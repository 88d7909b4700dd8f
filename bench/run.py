"""Benchmark our registry against the real Go registry, side by side, and print one table.

Both run on this machine with SQLite, one after the other (so they never compete for the CPU), under
the same load generators: wrk with the Lua scripts in bench/wrk/ for POST /heartbeat and GET /agents,
and bench/headload.py for HEAD /heartbeat/{id} (wrk cannot read HEAD answers that carry no
Content-Length, which is what the Go registry sends). Rows: HEAD /heartbeat/{id} and POST /heartbeat
at a 1,000-agent mesh, GET /agents at 1,000 agents, and resident memory at 10,000 agents. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.headload import ceiling, head_load
from bench.memory import resident_bytes
from bench.mesh import PAYLOAD_SHAPES, agent_id, listed_agents, register, write_bodies
from bench.profile import PY_SPY_MISSING, py_spy_command, sampled, summary
from tests.compat.go_registry import GoRegistryUnavailable, go_registry_binary, run_go_registry
from tests.processes import RunningProcess, free_port, run_registry

WRK_DIR = Path(__file__).resolve().parent / "wrk"
WRK_MISSING = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, latency percentiles and errors."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class RegistryResults:
    """Everything measured on one registry."""

    name: str
    loads: dict[str, LoadResult]
    rss_mib: float


ROWS = ("HEAD /heartbeat/{id}", "POST /heartbeat", "GET /agents")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values lie (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def run_head_load(url: str, paths: list[str], args: argparse.Namespace) -> LoadResult:
    """HEAD load through bench/headload.py, summarised like a wrk run."""
    result = head_load(url, paths, args.connections, args.duration)
    if not result.latencies:
        raise RuntimeError(f"no HEAD request to {url} completed ({result.errors} errors)")
    latencies = sorted(result.latencies)
    return LoadResult(
        requests_per_s=result.requests / result.seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=result.errors,
    )


def run_wrk(url: str, script: str, script_arg: Path | None, args: argparse.Namespace) -> LoadResult:
    """Run wrk against ``url`` with one of the bench scripts and parse its result line."""
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    if script_arg is not None:
        command += ["--", str(script_arg)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.duration + 60)
    for line in output.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            data = json.loads(line.removeprefix("BENCH_RESULT "))
            seconds = data["duration_us"] / 1e6
            return LoadResult(
                requests_per_s=data["requests"] / seconds,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                errors=data["status_errors"] + data["socket_errors"],
            )
    raise RuntimeError(f"wrk printed no result:\n{output.stdout}\n{output.stderr}")


def measure(
    name: str,
    start: Callable[[Path], contextlib.AbstractContextManager[RunningProcess]],
    workdir: Path,
    args: argparse.Namespace,
) -> RegistryResults:
    """Run every row against one registry, then grow the mesh and read its resident memory."""
    bodies = write_bodies(workdir, args.agents, args.payload)
    heartbeat_paths = [f"/heartbeat/{agent_id(i)}" for i in range(args.agents)]
    with start(workdir) as registry:
        print(f"[{name}] registering {args.agents} agents", file=sys.stderr)
        register(registry.url, range(args.agents), args.payload)
        if listed_agents(registry.url) != args.agents:
            raise RuntimeError(f"{name} does not list {args.agents} agents after registering them")
        loads = {}
        for row in ROWS:
            print(f"[{name}] {row} for {args.duration}s", file=sys.stderr)
            profiling: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if args.profile and name == "ours":
                profiling = sampled(registry.proc.pid, profile_path(args.profile, row))
            with profiling:
                if row.startswith("HEAD"):
                    loads[row] = run_head_load(registry.url, heartbeat_paths, args)
                elif row.startswith("POST"):
                    loads[row] = run_wrk(registry.url, "post_heartbeat.lua", bodies, args)
                else:
                    loads[row] = run_wrk(registry.url, "get_agents.lua", None, args)
        print(f"[{name}] growing the mesh to {args.memory_agents} agents", file=sys.stderr)
        register(registry.url, range(args.agents, args.memory_agents), args.payload)
        if listed_agents(registry.url) != args.memory_agents:
            raise RuntimeError(f"{name} does not list {args.memory_agents} agents after registering them")
        time.sleep(2)
        rss = resident_bytes(registry.proc.pid) / 2**20
    return RegistryResults(name=name, loads=loads, rss_mib=rss)


def profile_path(folder: Path, row: str) -> Path:
    """Where the py-spy recording of ``row`` goes."""
    slug = "".join(c if c.isalnum() else "-" for c in row.lower()).strip("-")
    return folder / f"ours-{slug}.txt"


@contextlib.contextmanager
def start_ours(workdir: Path) -> Iterator[RunningProcess]:
    """This checkout's registry, as deployed but quiet and with no expiry during the run."""
    env = {"LOG_LEVEL": "warning", "AGENT_TIMEOUT": "1h", "HEALTH_CHECK_INTERVAL": "30s"}
    with run_registry(workdir, env, startup_timeout=60) as registry:
        yield registry


@contextlib.contextmanager
def start_go(workdir: Path) -> Iterator[RunningProcess]:
    """The real Go registry, quiet and with no expiry during the run."""
    env = {
        "MCP_MESH_LOG_LEVEL": "WARNING",
        "DEFAULT_TIMEOUT_THRESHOLD": "3600",
        "HEALTH_CHECK_INTERVAL": "30",
    }
    with run_go_registry(workdir, env, startup_timeout=60) as registry:
        yield registry


def table(results: list[RegistryResults], args: argparse.Namespace, head_ceiling: float) -> str:
    """The one table: each row's figures per registry, and the ratio ours/Go (higher is better for ours)."""
    by_name = {result.name: result for result in results}
    go, ours = by_name.get("go"), by_name.get("ours")
    lines = [
        f"mesh of {args.agents} agents ({args.payload} payload), SQLite both, "
        f"{args.connections} connections, {args.duration}s per row; "
        f"POST and GET by wrk -t{args.threads}, HEAD by bench/headload.py",
        "",
        "| row | Go req/s | Go p50 ms | Go p99 ms | ours req/s | ours p50 ms | ours p99 ms | ours/Go req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cells(result: RegistryResults | None, row: str) -> list[str]:
        if result is None:
            return ["-", "-", "-"]
        load = result.loads[row]
        errors = f" ({load.errors} errors)" if load.errors else ""
        return [f"{load.requests_per_s:,.0f}{errors}", f"{load.p50_ms:.1f}", f"{load.p99_ms:.1f}"]

    for row in ROWS:
        ratio = "-"
        if go and ours:
            ratio = f"{ours.loads[row].requests_per_s / go.loads[row].requests_per_s:.2f}"
        lines.append(
            f"| {row} @ {args.agents} | " + " | ".join([*cells(go, row), *cells(ours, row), ratio]) + " |"
        )
    go_rss = f"{go.rss_mib:,.0f}" if go else "-"
    ours_rss = f"{ours.rss_mib:,.0f}" if ours else "-"
    rss_ratio = f"{ours.rss_mib / go.rss_mib:.2f} (lower is better)" if go and ours else "-"
    memory_row = f"resident memory @ {args.memory_agents} agents, MiB"
    lines.append(f"| {memory_row} | {go_rss} | | | {ours_rss} | | | {rss_ratio} |")
    lines += [
        "",
        f"HEAD load generator ceiling: {head_ceiling:,.0f} req/s against a trivial server "
        f"(same connections, same machine), so it is not what limits the HEAD row",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per row (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--agents", type=int, default=1000, help="mesh size for the load rows (default 1000)")
    parser.add_argument(
        "--memory-agents", type=int, default=10000, help="mesh size for memory (default 10000)"
    )
    parser.add_argument("--payload", choices=PAYLOAD_SHAPES, default="minimal", help="heartbeat shape")
    parser.add_argument("--only", choices=["ours", "go"], help="measure one registry only")
    parser.add_argument("--keep", type=Path, help="keep databases and logs in this folder")
    parser.add_argument(
        "--profile", type=Path, help="sample our registry with py-spy during each row; recordings go here"
    )
    args = parser.parse_args(argv)
    if args.memory_agents < args.agents:
        parser.error("--memory-agents must be at least --agents")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; exit 2 when a needed tool is missing."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    if args.profile:
        if py_spy_command() is None:
            print(PY_SPY_MISSING, file=sys.stderr)
            return 2
        args.profile.mkdir(parents=True, exist_ok=True)
    starters: dict[str, Callable[[Path], contextlib.AbstractContextManager[RunningProcess]]] = {}
    if args.only != "ours":
        try:
            go_registry_binary()
        except GoRegistryUnavailable as exc:
            print(f"the Go registry is not available: {exc}", file=sys.stderr)
            return 2
        starters["go"] = start_go
    if args.only != "go":
        starters["ours"] = start_ours
    print("measuring the HEAD load generator's ceiling", file=sys.stderr)
    head_ceiling = ceiling(args.connections, min(args.duration, 3), free_port())
    results = []
    for name, start in starters.items():
        if args.keep:
            workdir = args.keep / name
            workdir.mkdir(parents=True, exist_ok=True)
            results.append(measure(name, start, workdir, args))
        else:
            with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
                results.append(measure(name, start, Path(scratch), args))
    print(table(results, args, head_ceiling))
    if args.profile and "ours" in starters:
        for row in ROWS:
            recording = profile_path(args.profile, row)
            print(f"\nwhere our registry spends its time during {row} ({recording}):")
            print(summary(recording))
    return 0
