"""The registry at scale, ours and Go's side by side in one run: registration storms and a soak.

    python -m bench.scale                          # storms of 1,000 and 10,000 agents, a 5-minute soak
    python -m bench.scale --storms 1000 --soak-seconds 60 --soak-agents 2000   # a shorter look
    python -m bench.scale --database postgresql --replicas 3 --soak-seconds 0  # storms on 3 replicas

Each registry runs alone, on a fresh database per row (a SQLite file, or a PostgreSQL database on
127.0.0.1:5432), one after the other, with its own default
timeouts (so the soak's unhealthy count is a real false alarm). See bench/storm.py and bench/soak.py
for what each row does, and bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.mesh import register
from bench.profile import PY_SPY_MISSING, py_spy_command, sampled, summary
from bench.run import chosen_registries, database_label, percentile, start_go, start_ours
from bench.soak import SoakResult, SoakSettings, run_soak
from bench.storm import StormResult, run_storm
from tests.processes import RunningProcess

Starter = Callable[..., contextlib.AbstractContextManager[list[RunningProcess]]]


def storm_row(name: str, start: Starter, agents: int, args: argparse.Namespace) -> StormResult:
    """A storm over the registry's replicas, on a fresh database; ours sampled by py-spy with --profile."""
    with tempfile.TemporaryDirectory() as folder, start(Path(folder), args, expiry=True) as replicas:
        urls = [replica.url for replica in replicas]
        pids = [replica.proc.pid for replica in replicas]
        profiling: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if args.profile and name == "ours":
            profiling = sampled(pids[0], storm_profile_path(args.profile, agents))
        with profiling:
            return run_storm(urls, agents, interval=args.storm_interval, limit_s=args.storm_limit, pids=pids)


def storm_profile_path(folder: Path, agents: int) -> Path:
    """Where the py-spy recording of our first replica during a storm of ``agents`` goes."""
    return folder / f"ours-storm-{agents}.txt"


def soak_row(
    name: str, start: Starter, agents: int, settings: SoakSettings, args: argparse.Namespace
) -> SoakResult:
    """The soak against one replica (the soak reads one process's CPU and memory, and our metrics)."""
    with tempfile.TemporaryDirectory() as folder, start(Path(folder), args, expiry=True) as replicas:
        first = replicas[0]
        register(first.url, range(agents), concurrency=32)
        metrics = f"http://127.0.0.1:{first.env['METRICS_PORT']}/metrics" if name == "ours" else None
        return run_soak(first.url, first.proc.pid, agents, settings, metrics)


def storm_table(results: dict[str, dict[int, StormResult]]) -> list[str]:
    lines = [
        "| storm | Go registered s | Go resolved s | Go posts / heads | ours registered s | ours resolved s "
        "| ours posts / heads | Go / ours CPU share: registry, agents | Go/ours time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    sizes = sorted({size for by_size in results.values() for size in by_size})
    for size in sizes:
        cells, shares = [], []
        for name in ("go", "ours"):
            result = results.get(name, {}).get(size)
            if result is None:
                cells += ["-", "-", "-"]
            else:
                resolved = f"{result.resolved_s:.2f}" if result.complete else "incomplete"
                cells += [f"{result.registered_s:.2f}", resolved, f"{result.posts:,} / {result.heads:,}"]
                shares.append(cpu_shares(result))
        go, ours = results.get("go", {}).get(size), results.get("ours", {}).get(size)
        both = go is not None and ours is not None and go.complete and ours.complete
        ratio = f"{go.resolved_s / ours.resolved_s:.2f}" if both and go and ours else "-"
        share_cell = " / ".join(shares) or "-"
        lines.append(f"| {size:,} agents at once | " + " | ".join(cells) + f" | {share_cell} | {ratio} |")
    problems = [
        f"{name}, {size:,} agents: {result.problem}"
        for name, by_size in results.items()
        for size, result in sorted(by_size.items())
        if not result.complete
    ]
    return lines + (["", *problems] if problems else [])


def cpu_shares(result: StormResult) -> str:
    """The registry's and the simulated agents' CPU time as shares of one core over the storm."""
    if not result.seconds:
        return "-"
    return f"{result.registry_cpu_s / result.seconds:.0%}, {result.generator_cpu_s / result.seconds:.0%}"


def soak_table(name: str, result: SoakResult) -> list[str]:
    lines = [
        f"{name}: false unhealthy agents (most at once): {result.false_unhealthy}; "
        f"requests still due at the end (fallen behind): {result.behind:,}",
        "",
        "| window ends s | HEADs | HEAD p50 ms | HEAD p99 ms | POSTs | POST p50 ms | POST p99 ms | errors "
        "| CPU share | RSS MiB | full GCs | not healthy |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for w in result.windows:
        heads, posts = sorted(w.head_ms), sorted(w.post_ms)

        def pct(values: list[float], fraction: float) -> str:
            return f"{percentile(values, fraction):.1f}" if values else "-"

        lines.append(
            f"| {w.ends_s:.0f} | {len(heads):,} | {pct(heads, 0.5)} | {pct(heads, 0.99)} | {len(posts):,} "
            f"| {pct(posts, 0.5)} | {pct(posts, 0.99)} | {w.errors} | {w.cpu_share:.0%} | {w.rss_mib:.0f} "
            f"| {'-' if w.full_collections is None else w.full_collections} | {w.not_healthy} |"
        )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--storms", type=int, nargs="*", default=[1000, 10000], help="storm sizes")
    parser.add_argument(
        "--storm-interval", type=float, default=5.0, help="seconds between an agent's HEADs (the SDK's 5 s)"
    )
    parser.add_argument("--storm-limit", type=float, default=300.0, help="seconds a storm may take")
    parser.add_argument("--soak-agents", type=int, default=10000)
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="0 skips the soak")
    parser.add_argument("--only", choices=["ours", "go"], help="measure one registry only")
    parser.add_argument(
        "--profile", type=Path, help="sample our registry with py-spy during each storm; recordings go here"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--replicas", type=int, default=1, help="replicas sharing the database (postgresql; storms only)"
    )
    args = parser.parse_args(argv)
    if args.replicas < 1 or (args.replicas > 1 and args.database != "postgresql"):
        parser.error("--replicas above 1 needs --database postgresql (replicas share one database)")
    if args.replicas > 1 and args.soak_seconds > 0:
        parser.error("the soak reads one process: use --soak-seconds 0 with --replicas")
    if args.profile:
        if py_spy_command() is None:
            parser.error(PY_SPY_MISSING)
        args.profile.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the rows and print the tables; exit 2 when the Go registry is unavailable."""
    args = parse_args(argv)
    starters = chosen_registries(args.only, ours=start_ours, go=start_go)
    if starters is None:
        return 2
    storms: dict[str, dict[int, StormResult]] = {}
    soaks: dict[str, SoakResult] = {}
    settings = SoakSettings(seconds=args.soak_seconds)
    for name, start in starters.items():
        for size in args.storms:
            print(f"[{name}] storm of {size} agents", file=sys.stderr)
            storms.setdefault(name, {})[size] = storm_row(name, start, size, args)
        if args.soak_seconds > 0:
            print(f"[{name}] soak: {args.soak_agents} agents for {args.soak_seconds:.0f} s", file=sys.stderr)
            soaks[name] = soak_row(name, start, args.soak_agents, settings, args)
    lines = [database_label(args).rstrip(",") + ":", ""]
    lines += storm_table(storms) if args.storms else []
    for name, result in soaks.items():
        lines += ["", *soak_table(name, result)]
    print("\n".join(lines))
    if args.profile and "ours" in starters:
        for size in args.storms:
            recording = storm_profile_path(args.profile, size)
            print(f"\nwhere our registry spends its time during the storm of {size:,} ({recording}):")
            print(summary(recording))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
