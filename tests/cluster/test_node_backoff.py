"""Unit tests: crash back-off as the kubelet does it."""

from __future__ import annotations

from labkit.cluster.node.backoff import Backoff


def test_first_restart_is_immediate_then_doubles_to_the_cap() -> None:
    backoff = Backoff(base=10, cap=300)
    delays = [backoff.record_exit(ran_for_seconds=1) for _ in range(8)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]


def test_a_long_run_resets_the_back_off() -> None:
    backoff = Backoff(base=10, cap=300)
    for _ in range(4):
        backoff.record_exit(ran_for_seconds=1)
    assert backoff.delay() == 40
    assert backoff.record_exit(ran_for_seconds=601) == 0
    assert backoff.record_exit(ran_for_seconds=1) == 10
