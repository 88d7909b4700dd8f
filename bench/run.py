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
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg

from bench.headload import ceiling, head_load_many
from bench.mesh import (
    PAYLOAD_SHAPES,
    agent_id,
    listed_agents,
    register,
    write_bodies,
    write_changing_bodies,
)
from bench.process_use import resident_bytes
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


ROWS = ("HEAD /heartbeat/{id}", "POST /heartbeat", "POST /heartbeat, changed", "GET /agents")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values lie (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def run_head_load(targets: list[tuple[str, list[str]]], args: argparse.Namespace) -> LoadResult:
    """HEAD load through bench/headload.py, summarised like a wrk run."""
    result = head_load_many(targets, args.connections, args.duration)
    if not result.latencies:
        raise RuntimeError(f"no HEAD request completed ({result.errors} errors)")
    latencies = sorted(result.latencies)
    return LoadResult(
        requests_per_s=result.requests / result.seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=result.errors,
    )


def wrk_command(
    url: str, script: str, script_args: list[str], threads: int, connections: int, duration: int
) -> list[str]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    return [*command, "--", *script_args] if script_args else command


def parse_wrk(stdout: str, stderr: str) -> LoadResult:
    """wrk's result line (bench/wrk/report.lua) as a LoadResult."""
    for line in stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            data = json.loads(line.removeprefix("BENCH_RESULT "))
            seconds = data["duration_us"] / 1e6
            return LoadResult(
                requests_per_s=data["requests"] / seconds,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                errors=data["status_errors"] + data["socket_errors"],
            )
    raise RuntimeError(f"wrk printed no result:\n{stdout}\n{stderr}")


def run_wrk(loads: list[tuple[str, str, list[str]]], args: argparse.Namespace) -> LoadResult:
    """Run one wrk per (url, script, script args) at once, the threads and connections shared out.

    With one replica this is plain wrk. With several, the rates add up; the p50 shown is the
    replicas' median p50 and the p99 their worst p99 (wrk reports percentiles, not samples to merge).
    """
    threads = max(1, args.threads // len(loads))
    connections = max(threads, args.connections // len(loads))
    procs = [
        subprocess.Popen(
            wrk_command(url, script, script_args, threads, connections, args.duration),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url, script, script_args in loads
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=args.duration + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}):\n{stderr}")
        results.append(parse_wrk(stdout, stderr))
    return LoadResult(
        requests_per_s=sum(r.requests_per_s for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
    )


S = TypeVar("S")
Starter = Callable[[Path, argparse.Namespace], contextlib.AbstractContextManager[list[RunningProcess]]]


def measure(name: str, start: Starter, workdir: Path, args: argparse.Namespace) -> RegistryResults:
    """Run every row against one registry (its replicas), then grow the mesh and read resident memory.

    With several replicas each gets its own share of the agents (agent i goes to replica i mod n), so
    an agent's posts always reach the same replica, as behind a Service with session affinity.
    """
    with start(workdir, args) as replicas:
        shares = [range(r, args.agents, len(replicas)) for r in range(len(replicas))]
        bodies = [write_bodies(workdir, share, args.payload, f"bodies-{r}") for r, share in enumerate(shares)]
        changing = [
            write_changing_bodies(workdir, share, args.payload, f"changing-{r}")
            for r, share in enumerate(shares)
        ]
        urls = [replica.url for replica in replicas]
        print(f"[{name}] registering {args.agents} agents", file=sys.stderr)
        register(urls[0], range(args.agents), args.payload)
        if listed_agents(urls[0]) != args.agents:
            raise RuntimeError(f"{name} does not list {args.agents} agents after registering them")
        loads = {}
        for row in ROWS:
            print(f"[{name}] {row} for {args.duration}s", file=sys.stderr)
            profiling: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if args.profile and name == "ours":
                profiling = sampled(replicas[0].proc.pid, profile_path(args.profile, row))
            with profiling:
                if row.startswith("HEAD"):
                    targets = [
                        (url, [f"/heartbeat/{agent_id(i)}" for i in share])
                        for url, share in zip(urls, shares, strict=True)
                    ]
                    loads[row] = run_head_load(targets, args)
                elif row == "POST /heartbeat":
                    jobs = [
                        (url, "post_heartbeat.lua", [str(b)]) for url, b in zip(urls, bodies, strict=True)
                    ]
                    loads[row] = run_wrk(jobs, args)
                elif row.startswith("POST"):
                    threads = str(max(1, args.threads // len(urls)))
                    jobs = [
                        (url, "post_changed.lua", [str(c), threads])
                        for url, c in zip(urls, changing, strict=True)
                    ]
                    loads[row] = run_wrk(jobs, args)
                else:
                    loads[row] = run_wrk([(url, "get_agents.lua", []) for url in urls], args)
        print(f"[{name}] growing the mesh to {args.memory_agents} agents", file=sys.stderr)
        register(urls[0], range(args.agents, args.memory_agents), args.payload)
        for url in urls:  # every replica renders the list once, as its readers would make it
            if listed_agents(url) != args.memory_agents:
                raise RuntimeError(f"{name} at {url} does not list {args.memory_agents} agents")
        time.sleep(2)
        rss = statistics.mean(resident_bytes(replica.proc.pid) for replica in replicas) / 2**20
    return RegistryResults(name=name, loads=loads, rss_mib=rss)


def profile_path(folder: Path, row: str) -> Path:
    """Where the py-spy recording of ``row`` goes."""
    slug = "".join(c if c.isalnum() else "-" for c in row.lower()).strip("-")
    return folder / f"ours-{slug}.txt"


def fresh_postgres_database(name: str) -> str:
    """Drop and create database ``name`` on the local PostgreSQL (127.0.0.1:5432, trust); return it."""

    async def recreate() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    return name


@contextlib.contextmanager
def start_ours(
    workdir: Path, args: argparse.Namespace, *, expiry: bool = False
) -> Iterator[list[RunningProcess]]:
    """This checkout's registry (``--replicas`` of it), as deployed but quiet; with its default
    timeouts when ``expiry``, else with none expiring during the run."""
    env = {"LOG_LEVEL": "warning"}
    if not expiry:
        env.update(AGENT_TIMEOUT="1h", HEALTH_CHECK_INTERVAL="30s")
    if args.database == "postgresql":
        database = fresh_postgres_database("bench_ours")
        env.update(
            DATABASE_TYPE="postgresql", DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{database}"
        )
    with contextlib.ExitStack() as stack:
        replicas = []
        for replica in range(args.replicas):
            folder = workdir / f"replica-{replica}"
            folder.mkdir(exist_ok=True)
            replicas.append(stack.enter_context(run_registry(folder, env, startup_timeout=60)))
        yield replicas


@contextlib.contextmanager
def start_go(
    workdir: Path, args: argparse.Namespace, *, expiry: bool = False
) -> Iterator[list[RunningProcess]]:
    """The real Go registry (``--replicas`` of it), quiet; with its default timeouts when ``expiry``."""
    env = {"MCP_MESH_LOG_LEVEL": "WARNING"}
    if not expiry:
        env.update(DEFAULT_TIMEOUT_THRESHOLD="3600", HEALTH_CHECK_INTERVAL="30")
    if args.database == "postgresql":
        database = fresh_postgres_database("bench_go")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}?sslmode=disable"
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(run_go_registry(workdir, env, startup_timeout=60))
            for _ in range(args.replicas)
        ]


def chosen_registries(only: str | None, *, ours: S, go: S) -> dict[str, S] | None:
    """The registries to measure (Go first, ``only`` one of them if given); None, after saying why on
    stderr, when Go is wanted but its binary cannot be had."""
    chosen: dict[str, S] = {}
    if only != "ours":
        try:
            go_registry_binary()
        except GoRegistryUnavailable as exc:
            print(f"the Go registry is not available: {exc}", file=sys.stderr)
            return None
        chosen["go"] = go
    if only != "go":
        chosen["ours"] = ours
    return chosen


def database_label(args: argparse.Namespace) -> str:
    """SQLite, PostgreSQL, or PostgreSQL with so many replicas."""
    if args.database == "sqlite":
        return "SQLite"
    return "PostgreSQL" if args.replicas == 1 else f"PostgreSQL, {args.replicas} replicas sharing it,"


def table(results: list[RegistryResults], args: argparse.Namespace, head_ceiling: float) -> str:
    """The one table: each row's figures per registry, and the ratio ours/Go (higher is better for ours)."""
    by_name = {result.name: result for result in results}
    go, ours = by_name.get("go"), by_name.get("ours")
    lines = [
        f"mesh of {args.agents} agents ({args.payload} payload), {database_label(args)} both, "
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
    if args.replicas > 1:
        memory_row += " per replica"
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
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="sqlite (a fresh file) or postgresql (a fresh database on 127.0.0.1:5432)",
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="replicas sharing the database (postgresql only; default 1)"
    )
    parser.add_argument("--keep", type=Path, help="keep databases and logs in this folder")
    parser.add_argument(
        "--profile", type=Path, help="sample our registry with py-spy during each row; recordings go here"
    )
    args = parser.parse_args(argv)
    if args.memory_agents < args.agents:
        parser.error("--memory-agents must be at least --agents")
    if args.replicas < 1 or (args.replicas > 1 and args.database != "postgresql"):
        parser.error("--replicas above 1 needs --database postgresql (replicas share one database)")
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
    starters = chosen_registries(args.only, ours=start_ours, go=start_go)
    if starters is None:
        return 2
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
