"""The lesson's load generator against wrk, on one registry at the same moment: is the generator the limit?

``python -m bench.load_generator`` starts this kit's registry (SQLite, loopback), registers the agents
once, then alternates wrk and ``labkit.load_test`` re-posting the same heartbeats at the same
concurrency, and prints each one's rate and latencies with the generator/wrk ratio. A ratio near 1 means
a lesson's figures are the registry's; well below 1, they are the generator's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.run import parse_wrk, wrk_command
from labkit.load import heartbeat_payload, load_test
from tests.processes import run_registry

PREFIX = "bench-agent"
COLUMNS = (
    "round",
    "wrk req/s",
    "wrk p50 ms",
    "wrk p99 ms",
    "labkit req/s",
    "labkit p50 ms",
    "labkit p99 ms",
    "ratio",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load_generator", description=__doc__)
    parser.add_argument("--agents", type=int, default=2000, help="heartbeats per generator run (2000)")
    parser.add_argument("--concurrency", type=int, default=50, help="connections in flight (default 50)")
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk/generator pairs (default 3)")
    return parser.parse_args(argv)


def heartbeats(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """labkit's generator: every agent's heartbeat once, at the benchmark's concurrency."""
    result = load_test(
        url, n=args.agents, concurrency=args.concurrency, kind="heartbeat", prefix=PREFIX, progress=False
    )
    return result.summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as folder:
        bodies = Path(folder) / "bodies.jsonl"
        lines = (json.dumps(heartbeat_payload(PREFIX, i)) + "\n" for i in range(args.agents))
        bodies.write_text("".join(lines))
        with run_registry(Path(folder)) as registry:
            heartbeats(registry.url, args)  # registers them: every later post is a re-post
            print("| " + " | ".join(COLUMNS) + " |")
            print("|" + "---|" * len(COLUMNS))
            for round_number in range(1, args.rounds + 1):
                command = wrk_command(
                    registry.url, "post_heartbeat.lua", [str(bodies)], 2, args.concurrency, args.duration
                )
                finished = subprocess.run(command, capture_output=True, text=True, check=True)
                wrk = parse_wrk(finished.stdout, finished.stderr)
                ours = heartbeats(registry.url, args)
                print(
                    f"| {round_number} | {wrk.requests_per_s:,.0f} | {wrk.p50_ms:.1f} | {wrk.p99_ms:.1f} "
                    f"| {ours['throughput_rps']:,.0f} | {ours['p50_ms']:.1f} | {ours['p99_ms']:.1f} "
                    f"| {ours['throughput_rps'] / wrk.requests_per_s:.2f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
