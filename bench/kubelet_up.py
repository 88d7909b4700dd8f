"""``up`` times of the local cluster with the real kubelet node, with a warm cache (binaries, node
packages and images built): from stopped, and when already running; min/median/max.

A benchmark, not a test: it prints one table and never fails on the figures. It uses a state dir of its
own (``--state-dir``, default ``/tmp/labkit-bench-kubelet``) and stops that cluster at the end:

    .venv/bin/python -m bench.kubelet_up --trials 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from labkit.cluster import LocalCluster


def _summary(name: str, seconds: list[float]) -> str:
    return f"| {name} | {min(seconds):.1f} | {statistics.median(seconds):.1f} | {max(seconds):.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--state-dir", default="/tmp/labkit-bench-kubelet")
    args = parser.parse_args()
    cluster = LocalCluster(state_dir=args.state_dir)
    cluster.up(progress=False)  # builds what is missing, outside the figures
    cold_start: list[float] = []
    running: list[float] = []
    try:
        for _ in range(args.trials):
            cluster.down()
            started = time.monotonic()
            cluster.up(progress=False)
            cold_start.append(time.monotonic() - started)
            started = time.monotonic()
            cluster.up(progress=False)
            running.append(time.monotonic() - started)
    finally:
        cluster.down()
    print("| up (s, warm cache) | min | median | max |")
    print("| --- | --- | --- | --- |")
    print(_summary("from stopped", cold_start))
    print(_summary("already running", running))


if __name__ == "__main__":
    main()
