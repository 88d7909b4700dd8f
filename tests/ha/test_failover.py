"""High availability on the local cluster: one leader, crash and graceful failover, a cut-off leader.

The kit's own manifests (RBAC, config, Services, ``registry-ha.yaml``: three replicas on SQLite) run in a
namespace of this module's own, with short election timings set through env on the StatefulSet. Every
test starts from a settled set (three pods running, one Lease holder, only it ready) and adds what it saw
to one record of leadership intervals, read from the replicas' own logs; the last test checks that no two
replicas ever acted as leader at the same time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import labkit as lk
from registry.leader import leading_intervals, overlapping_pairs
from tests.cluster_fixture import lab_in_own_namespace
from tests.ha import ha_cluster as ha

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

NAMESPACE = f"ha-test-{os.getpid()}"
TIMINGS = ha.Timings(lease=4.0, renew=3.0, retry=1.0)
# What the measurements add to the election's own bounds: the Lease read every 50 ms, the delete request
# and the kubelet noticing it, each replica's attempt taking some tens of ms on a loaded 2-core machine.
# Measured on the local cluster: crash 3.6-4.7 s (bound 5 s + allowance), graceful 0.2-0.8 s.
OBSERVER_ALLOWANCE = 0.75


@pytest.fixture(scope="module")
def lab(local_cluster: Any) -> Iterator[lk.Lab]:
    """A Lab in a namespace of its own, deleted afterwards."""
    with lab_in_own_namespace(local_cluster, NAMESPACE) as lab:
        yield lab


@pytest.fixture(scope="module")
def record() -> ha.LeadershipRecord:
    """Leadership intervals of pod instances that ended during the module (deleted leaders)."""
    return ha.LeadershipRecord()


@pytest.fixture(scope="module")
def registry(lab: lk.Lab) -> lk.Lab:
    """The kit's HA registry with short timings, settled."""
    ha.deploy(lab, TIMINGS, replicas=3, timeout=180)
    return lab


def pod_json(lab: lk.Lab, pod: str, path: str) -> tuple[int, dict[str, Any]]:
    """GET a path on one pod's registry (pod IPs are loopback addresses on the local cluster)."""
    ip = lab.get(f"pod/{pod}")["status"]["podIP"]
    response = httpx.get(f"http://{ip}:8000{path}", timeout=5)
    return response.status_code, response.json()


def test_three_replicas_elect_exactly_one_leader_which_the_lease_names(registry: lk.Lab) -> None:
    holder = ha.wait_settled(registry)
    pods = registry.pods(ha.SELECTOR)
    assert sorted(pods["name"]) == [f"mcp-mesh-registry-{i}" for i in range(3)]
    assert sorted(pods[pods["ready"]]["name"]) == [holder], "on SQLite only the Lease holder may be ready"
    leaders = []
    for pod in pods["name"]:
        _, health = pod_json(registry, pod, "/health")
        status, ready = pod_json(registry, pod, "/ready")
        if health["leader"]:
            leaders.append(pod)
            assert status == 200, f"the leader {pod} is not ready: {ready}"
        else:
            assert status == 503
            assert f"the leader is {holder}" in ready["reason"], f"{pod}'s /ready does not name the leader"
    assert leaders == [holder], f"pods acting as leader: {leaders}, Lease holder: {holder}"
    assert registry.lease(ha.LEASE)["leaseDurationSeconds"] == 4


def test_crash_failover_within_lease_duration_plus_retry_period(
    registry: lk.Lab, record: ha.LeadershipRecord
) -> None:
    failover = ha.fail_over(registry, grace_period=0, timeout=30)
    record.add_log(failover.old_log, ended_at=failover.old_ended_at)
    bound = TIMINGS.lease + TIMINGS.retry + OBSERVER_ALLOWANCE
    assert failover.seconds <= bound, (
        f"{failover.new} led {failover.seconds:.2f}s after {failover.old} was killed; "
        f"expected at most lease {TIMINGS.lease}s + retry {TIMINGS.retry}s + {OBSERVER_ALLOWANCE}s"
    )


def test_graceful_failover_within_about_a_retry_period(registry: lk.Lab, record: ha.LeadershipRecord) -> None:
    failover = ha.fail_over(registry, grace_period=None, timeout=30)
    record.add_log(failover.old_log, ended_at=failover.old_ended_at)
    bound = TIMINGS.retry + 1.0 + OBSERVER_ALLOWANCE
    assert failover.seconds <= bound, (
        f"{failover.new} led {failover.seconds:.2f}s after {failover.old} got SIGTERM; expected at most "
        f"retry {TIMINGS.retry}s + 1s + {OBSERVER_ALLOWANCE}s: is the Lease released on SIGTERM?"
    )
    released = [line for line in failover.old_log.splitlines() if "released lease" in line]
    assert released, f"{failover.old} did not log the release of its Lease on SIGTERM"


def test_a_cut_off_leader_stops_leading_before_its_lease_can_expire(registry: lk.Lab) -> None:
    old = ha.wait_settled(registry)
    pid = ha.registry_pid(registry, old)
    with ha.paused(pid) as paused_at:
        new = ha.wait_for_new_holder(registry, old, timeout=TIMINGS.lease + TIMINGS.retry + 5)[0]
    # Resumed: its first look at the clock tells it the renew deadline has passed.
    deadline = time.monotonic() + 3 * TIMINGS.retry + 2
    intervals = []
    while time.monotonic() < deadline:
        intervals = [i for i in leading_intervals(registry.logs(old)) if i.until is not None]
        if intervals and intervals[-1].until and intervals[-1].until >= paused_at - timedelta(seconds=1):
            break
        time.sleep(0.2)
    assert intervals, f"{old} never logged that it stopped leading after being paused"
    stopped = intervals[-1].until
    assert stopped is not None
    lease_expiry = paused_at + timedelta(seconds=TIMINGS.lease)
    assert stopped < lease_expiry, (
        f"{old} led until {stopped}, past its lease's earliest expiry {lease_expiry}"
    )
    new_since = [i.since for i in leading_intervals(registry.logs(new))][-1]
    assert stopped < new_since, f"{old} led until {stopped}, after {new} started leading at {new_since}"
    for _ in range(25):  # its next attempt (within a retry period) reads the new holder
        status, ready = pod_json(registry, old, "/ready")
        assert status == 503, f"{old} is ready after SIGCONT: {ready}"
        if f"the leader is {new}" in ready["reason"]:
            break
        time.sleep(0.2)
    assert f"the leader is {new}" in ready["reason"], f"{old}'s /ready does not name {new}: {ready}"
    assert not pod_json(registry, old, "/health")[1]["leader"]


def test_no_two_replicas_ever_led_at_the_same_time(registry: lk.Lab, record: ha.LeadershipRecord) -> None:
    ha.wait_settled(registry)
    everything = ha.LeadershipRecord(list(record.intervals))
    everything.add_live_pods(registry)
    assert len(everything.intervals) > len(record.intervals), "no live replica logged any leadership"
    clashes = overlapping_pairs(everything.intervals, open_end=datetime.now(UTC))
    described = [
        f"{a.identity} {a.since:%T.%f}-{a.until} / {b.identity} {b.since:%T.%f}-{b.until}" for a, b in clashes
    ]
    assert not clashes, "two replicas led at once (None: still leading): " + "; ".join(described)
