"""Leader election rules, driven with an in-memory Lease store and a controllable clock.

The store behaves like the API server where it matters: writes carry a resourceVersion, and a stale one
is refused with a conflict. Against the real API server the same elector is exercised by the HA tests.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from registry.config import LeaderElectionSettings
from registry.leader import LeaderElector, LeaseConflict


class FakeLeaseStore:
    """Leases by name with API-server style resourceVersion checks."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.unreachable = False

    def _check(self) -> None:
        if self.unreachable:
            raise ConnectionError("API server unreachable")

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        lease = self.leases.get(name)
        return copy.deepcopy(lease) if lease else None

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        name = body["metadata"]["name"]
        if name in self.leases:
            raise LeaseConflict("already exists")
        return self._store(name, body)

    def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if body["metadata"].get("resourceVersion") != self.leases[name]["metadata"]["resourceVersion"]:
            raise LeaseConflict("the object has been modified")
        return self._store(name, body)

    def _store(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[name] = stored
        return copy.deepcopy(stored)

    def spec(self, name: str = "mcp-mesh-registry-leader") -> dict[str, Any]:
        return self.leases[name]["spec"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(store: FakeLeaseStore, clock: Clock, identity: str) -> LeaderElector:
    settings = LeaderElectionSettings(lease_duration=15, renew_deadline=10, retry_period=2)
    return LeaderElector(settings, store, namespace="mcp-mesh", identity=identity, clock=clock)


def test_first_candidate_creates_the_lease_and_others_wait() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "registry-0"), elector(store, clock, "registry-1")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert store.spec()["holderIdentity"] == "registry-0"
    assert store.spec()["leaseTransitions"] == 0
    assert b.holder == "registry-0"


def test_takeover_only_after_locally_observed_expiry() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "registry-0"), elector(store, clock, "registry-1")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b starts observing the record now
    clock.now += 14.9
    assert not b.try_acquire_or_renew()  # unchanged for less than the lease duration
    clock.now += 0.2
    assert b.try_acquire_or_renew()
    assert store.spec()["holderIdentity"] == "registry-1"
    assert store.spec()["leaseTransitions"] == 1


def test_renewals_keep_the_lease_and_reset_the_observers_timer() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "registry-0"), elector(store, clock, "registry-1")
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    for _ in range(10):
        clock.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert store.spec()["leaseTransitions"] == 0


def test_stale_writer_loses_on_resource_version() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a = elector(store, clock, "registry-0")
    a.try_acquire_or_renew()
    stale = store.get("mcp-mesh", "mcp-mesh-registry-leader")
    assert stale is not None
    clock.now += 2
    a.try_acquire_or_renew()  # moves the resourceVersion on
    with pytest.raises(LeaseConflict):
        store.replace("mcp-mesh", "mcp-mesh-registry-leader", stale)


def test_leader_steps_down_when_renewals_fail_past_the_deadline() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a = elector(store, clock, "registry-0")
    a.try_acquire_or_renew()
    a._set_leading(True)
    assert a.is_leader
    store.unreachable = True
    clock.now += 9.9
    assert a.is_leader
    clock.now += 0.2
    assert not a.is_leader  # before the lease (15 s) can expire for anyone else


async def test_release_lets_another_candidate_take_over_at_once() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "registry-0"), elector(store, clock, "registry-1")
    changes: list[bool] = []
    a._on_change = changes.append
    assert a.try_acquire_or_renew()
    a._set_leading(True)
    assert not b.try_acquire_or_renew()
    await a.release()
    assert changes == [True, False]
    assert store.spec()["holderIdentity"] == ""
    assert b.try_acquire_or_renew()
    assert store.spec()["leaseTransitions"] == 1


@pytest.mark.parametrize(("lease", "renew", "retry"), [(10, 10, 2), (15, 2, 2), (15, 10, 0), (5, 10, 2)])
def test_out_of_order_timings_are_refused(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        LeaderElectionSettings(lease_duration=lease, renew_deadline=renew, retry_period=retry)


def test_without_a_namespace_the_replica_never_leads_and_says_why() -> None:
    from registry.config import load_settings
    from registry.leader import create_leadership

    settings = load_settings({"ENABLE_LEADER_ELECTION": "true", "REGISTRY_INSTANCE_ID": "r0"})
    leadership = create_leadership(dataclasses.replace(settings, pod_namespace=None))
    assert not leadership.is_leader
    assert "POD_NAMESPACE" in leadership.describe()["error"]


def test_without_any_kubernetes_api_the_replica_never_leads_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from registry.config import load_settings
    from registry.leader import create_leadership

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    settings = load_settings(
        {"ENABLE_LEADER_ELECTION": "true", "REGISTRY_INSTANCE_ID": "r0", "POD_NAMESPACE": "mcp-mesh"}
    )
    leadership = create_leadership(settings)
    assert not leadership.is_leader
    assert "no Kubernetes API" in leadership.describe()["error"]


def leader_log(caplog: pytest.LogCaptureFixture) -> str:
    """The captured registry.leader records as the registry's JSON log lines."""
    from registry.logs import JsonFormatter

    formatter = JsonFormatter()
    return "\n".join(formatter.format(r) for r in caplog.records if r.name == "registry.leader")


def test_a_lapsed_leader_logs_its_end_before_a_later_renewal_starts_a_new_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from registry.leader import leading_intervals

    caplog.set_level("INFO", logger="registry.leader")
    store, clock = FakeLeaseStore(), Clock()
    a = elector(store, clock, "registry-0")
    assert a.try_acquire_or_renew()
    a._set_leading(True)
    clock.now += 12  # paused past the renew deadline (10 s), but nobody took the lease
    a._step_down_if_lapsed()
    assert a.try_acquire_or_renew()
    a._set_leading(True)
    intervals = leading_intervals(leader_log(caplog))
    assert [(i.identity, i.until is None) for i in intervals] == [("registry-0", False), ("registry-0", True)]
    first, second = intervals
    assert first.until is not None
    assert first.until < second.since


def test_leading_intervals_read_back_from_the_log_and_overlaps_are_found() -> None:
    from datetime import UTC, datetime

    from registry.leader import leading_intervals, overlapping_pairs

    def line(identity: str, leading: bool, moment: str) -> str:
        key = "leading_since" if leading else "leading_until"
        return (
            f'{{"logger": "registry.leader", "identity": "{identity}", "leading": {str(leading).lower()}, '
            f'"{key}": "2026-01-01T00:00:{moment}Z"}}'
        )

    log_a = "\n".join(["not json", line("a", True, "01.000000"), line("a", False, "05.000000")])
    log_b = line("b", True, "06.000000")
    log_c = line("c", True, "04.500000")
    intervals = leading_intervals(log_a) + leading_intervals(log_b)
    end = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert [(i.identity, i.since.second, i.until and i.until.second) for i in intervals] == [
        ("a", 1, 5),
        ("b", 6, None),
    ]
    assert overlapping_pairs(intervals, open_end=end) == []
    clash = overlapping_pairs(intervals + leading_intervals(log_c), open_end=end)
    assert [(x.identity, y.identity) for x, y in clash] == [("a", "c"), ("c", "b")]


async def test_run_leads_renews_and_releases_on_stop() -> None:
    import asyncio

    store = FakeLeaseStore()
    settings = LeaderElectionSettings(lease_duration=3, renew_deadline=2, retry_period=0.05)
    changes: list[bool] = []
    a = LeaderElector(settings, store, namespace="mcp-mesh", identity="registry-0", on_change=changes.append)
    task = asyncio.create_task(a.run())
    for _ in range(100):
        if a.is_leader:
            break
        await asyncio.sleep(0.02)
    assert a.is_leader
    first_renewal = store.spec()["renewTime"]
    await asyncio.sleep(0.2)
    assert store.spec()["renewTime"] != first_renewal
    a.stop()
    await asyncio.wait_for(task, timeout=5)
    assert changes == [True, False]
    assert store.spec()["holderIdentity"] == ""


def test_api_errors_are_described_in_one_line() -> None:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    from registry.leader import describe_api_error

    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = (
        '{"message": "leases.coordination.k8s.io is forbidden: User \\"system:serviceaccount:x:y\\""}'
    )
    assert describe_api_error(forbidden).startswith("the Kubernetes API answered 403: leases.coordination")
    refused = MaxRetryError(None, "/apis", NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    assert describe_api_error(refused).endswith("cannot reach the Kubernetes API: None: Connection refused")
    assert describe_api_error(ValueError("odd")) == "ValueError: odd"
