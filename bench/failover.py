"""Failover time of the HA registry on the local cluster: crash and graceful, min/median/max.

Deploys the kit's ``registry-ha.yaml`` (three replicas, SQLite, leader election) with the manifests'
RBAC, config and Services into a namespace of its own, then repeats: wait until one leader serves,
fault the leader and time how long until a replica leads again:

- crash: its pod deleted with grace period 0. The StatefulSet recreates the pod under the same name, and
  that new process may renew "its own" Lease at once, so the time is often the pod's restart, not the
  lease duration (the "same pod" column counts those);
- graceful: its pod deleted normally (SIGTERM): it releases the Lease, a follower takes it at its next
  retry;
- cut-off: its process paused (SIGSTOP, as if cut off from the API) until another replica holds the
  Lease: the pure lease-expiry path, lease duration to lease duration + retry period.

A benchmark, not a test: it prints one table and never fails on the figures. Run it from the checkout
root (the local cluster is started when it is not running):

    .venv/bin/python -m bench.failover                      # the guide's timings 15s/10s/2s, 10 trials each
    .venv/bin/python -m bench.failover --timings 4s/3s/1s --trials 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import labkit as lk
from registry.durations import parse_duration
from tests.ha import ha_cluster as ha

KINDS = ("crash", "graceful", "cut-off")


@dataclass(frozen=True)
class Trial:
    kind: str
    old: str
    new: str
    seconds: float


def run_trial(lab: lk.Lab, kind: str, timeout: float) -> Trial:
    """One failover of the given kind, timed from the fault to the next leader."""
    if kind == "cut-off":
        old = ha.wait_settled(lab)
        pid = ha.registry_pid(lab, old)
        started = time.monotonic()
        with ha.paused(pid):
            new, taken_at = ha.wait_for_new_holder(lab, old, timeout)
        return Trial(kind, old, new, taken_at - started)
    failover = ha.fail_over(lab, grace_period=0 if kind == "crash" else None, timeout=timeout)
    return Trial(kind, failover.old, failover.new, failover.seconds)


def parse_timings(text: str) -> ha.Timings:
    """``15s/10s/2s`` (lease/renew/retry) into Timings; exits 2 with one line when malformed."""
    try:
        lease, renew, retry = (parse_duration(part) for part in text.split("/"))
    except ValueError as exc:
        raise SystemExit(f"--timings wants LEASE/RENEW/RETRY like 15s/10s/2s, got {text!r}: {exc}") from None
    if not lease > renew > retry > 0:
        raise SystemExit(f"--timings must satisfy lease > renew > retry > 0, got {text!r}")
    return ha.Timings(lease, renew, retry)


def table(trials: list[Trial], timings: ha.Timings) -> str:
    """One row per kind: trials, min, median, max, same-pod takeovers, and the bound the election promises."""
    bounds = {
        "crash": timings.lease + timings.retry,
        "graceful": timings.retry + 1.0,
        "cut-off": timings.lease + timings.retry,
    }
    lines = [
        f"{'failover':<10}{'trials':>7}{'min s':>8}{'median s':>10}{'max s':>8}{'same pod':>10}   bound s"
    ]
    for kind in KINDS:
        seconds = [t.seconds for t in trials if t.kind == kind]
        same = sum(1 for t in trials if t.kind == kind and t.new == t.old)
        lines.append(
            f"{kind:<10}{len(seconds):>7}{min(seconds):>8.2f}{statistics.median(seconds):>10.2f}"
            f"{max(seconds):>8.2f}{same:>10}   {bounds[kind]:.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials of each kind (default 10)")
    parser.add_argument("--timings", default="15s/10s/2s", help="lease/renew/retry (default: the guide's)")
    parser.add_argument("--namespace", default=f"bench-failover-{os.getpid()}")
    parser.add_argument("--keep", action="store_true", help="keep the namespace afterwards")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    timings = parse_timings(args.timings)
    lab = lk.connect("local", namespace=args.namespace, progress=False)
    trials: list[Trial] = []
    timeout = timings.lease + timings.retry + 30
    try:
        started = time.monotonic()
        ha.deploy(lab, timings, replicas=3, timeout=240)
        print(f"deployed in {args.namespace} ({time.monotonic() - started:.0f}s); timings {args.timings}")
        for trial in range(1, args.trials + 1):
            for kind in KINDS:
                result = run_trial(lab, kind, timeout)
                trials.append(result)
                print(f"trial {trial:>2} {kind:<8} {result.old} -> {result.new}: {result.seconds:.2f}s")
                sys.stdout.flush()
    finally:
        if not args.keep:
            lab.delete(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args.namespace}}, wait=False
            )
    print()
    print(table(trials, timings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
