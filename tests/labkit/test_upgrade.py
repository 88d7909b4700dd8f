"""labkit.upgrade: the order of a hand-finished restart, the availability sampler, and drain against a
real registry process (claims answer nothing while drained, and work again after resume)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import upgrade
from labkit.errors import BadParameter, ObjectNotFound, RegistryError
from labkit.registry_client import RegistryClient
from tests.processes import RunningProcess, run_registry

TOKEN = "upgrade-test-token"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    with run_registry(Path(tmp_path_factory.mktemp("registry")), {"AUTH_TOKEN": TOKEN}) as running:
        yield running


def test_restart_order_deletes_old_followers_from_the_top_and_the_leader_last() -> None:
    revisions = {f"reg-{n}": "old" for n in range(4)} | {"reg-3": "new"}
    assert upgrade.restart_order(revisions, "new", leader="reg-1") == ["reg-2", "reg-0", "reg-1"]
    assert upgrade.restart_order(revisions, "new", leader="reg-3") == ["reg-2", "reg-1", "reg-0"]
    assert upgrade.restart_order({"reg-0": "new"}, "new", leader="reg-0") == []


def test_ordinal_names_a_name_that_is_not_a_statefulset_pod() -> None:
    assert upgrade.ordinal("mcp-mesh-registry-12") == 12
    with pytest.raises(BadParameter, match="registry-x"):
        upgrade.ordinal("registry-x")


def test_seconds_where_counts_each_sample_until_the_next() -> None:
    samples: list[tuple[float, bool | None]] = [
        (0.0, True),
        (1.0, False),
        (3.5, None),
        (4.0, True),
        (6.0, False),
    ]
    assert upgrade.seconds_where(samples, False) == pytest.approx(2.5)  # the last sample has no end
    assert upgrade.seconds_where(samples, None) == pytest.approx(0.5)
    assert upgrade.seconds_where(samples, True) == pytest.approx(3.0)


def test_availability_counts_outages_and_treats_errors_as_unknown() -> None:
    answers = itertools.chain([True, False, False, True, "raise", False, True], itertools.repeat(True))

    def probe() -> bool:
        answer = next(answers)
        if answer == "raise":
            raise ConnectionError("the registry went away")
        return bool(answer)

    with upgrade.Availability(probe, every=0.01) as seen:
        deadline = time.monotonic() + 5
        while len(seen.samples) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    values = [ok for _, ok in seen.samples[:7]]
    assert values == [True, False, False, True, None, False, True]
    assert seen.outages == 2  # True -> False twice; the unknown sample between True and False is skipped
    assert seen.down_seconds > 0
    assert seen.unknown_seconds > 0


def test_drain_replica_refuses_a_value_that_is_not_a_drain_state(registry: RunningProcess) -> None:
    with pytest.raises(BadParameter, match="'yes'"):
        upgrade.drain_replica(registry.url, "yes")  # type: ignore[arg-type]


def test_drain_needs_the_token_and_changes_nothing_without_it(registry: RunningProcess) -> None:
    with pytest.raises(RegistryError, match="401"):
        upgrade.drain_replica(registry.url, True)
    assert upgrade.drain_replica(registry.url, None, TOKEN)["draining"] is False


def test_claims_get_nothing_while_drained_and_the_job_after_resume(registry: RunningProcess) -> None:
    with RegistryClient(registry.url) as client:
        client.register("upgrade-worker", ["upgrade_probe"], "http://127.0.0.1:9")
        job = client.json(
            "POST",
            "/jobs",
            json={"capability": "upgrade_probe", "submitted_payload": {"n": 1}, "submitted_by": "test"},
        )
        claim = {"capability": "upgrade_probe", "instance_id": "upgrade-worker"}
        try:
            assert upgrade.drain_replica(registry.url, True, TOKEN)["draining"] is True
            assert client.json("POST", "/jobs/claim", json=claim)["claimed"] == []
            assert upgrade.job_state(registry.url, job["id"])["owner_instance_id"] is None  # type: ignore[index]
        finally:
            resumed = upgrade.drain_replica(registry.url, False, TOKEN)
        assert resumed == {"draining": False, "live_claims": 0}
        claimed = client.json("POST", "/jobs/claim", json=claim)["claimed"]
        assert [c["id"] for c in claimed] == [job["id"]]
        assert upgrade.drain_replica(registry.url, None, TOKEN)["live_claims"] == 1


def test_job_state_is_none_for_a_job_the_registry_does_not_know(registry: RunningProcess) -> None:
    assert upgrade.job_state(registry.url, "no-such-job") is None


class PodsByName:
    """A stand-in for Lab.get: the pod objects the API would return now (None: not found)."""

    def __init__(self, pods: dict[str, dict | None]) -> None:
        self.pods = pods

    def get(self, ref: str) -> dict:
        found = self.pods[ref.split("/", 1)[1]]
        if found is None:
            raise ObjectNotFound(f"{ref} not found")
        return found


def test_a_pod_being_recreated_is_waited_for_until_the_new_one_runs() -> None:
    lab = PodsByName(
        {
            "gone": None,
            "old": {"metadata": {"deletionTimestamp": "now"}, "status": {"phase": "Running"}},
            "new": {"metadata": {}, "status": {"phase": "Pending"}},
            "up": {"metadata": {}, "status": {"phase": "Running"}},
        }
    )
    assert "not recreated yet" in upgrade.not_running_yet(lab, "gone")  # type: ignore[arg-type]
    assert "still terminating" in upgrade.not_running_yet(lab, "old")  # type: ignore[arg-type]
    assert "is Pending" in upgrade.not_running_yet(lab, "new")  # type: ignore[arg-type]
    assert upgrade.not_running_yet(lab, "up") == ""  # type: ignore[arg-type]
