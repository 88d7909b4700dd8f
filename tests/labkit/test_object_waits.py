"""The wait engine's pure parts: conditions in words, which objects meet them, fail-fast reasons."""

from __future__ import annotations

import pytest

from labkit.errors import LabError
from labkit.object_waits import condition_name, describe, fail_fast, holds


def crashing(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "status": {
            "containerStatuses": [{"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
        },
    }


def test_conditions_in_words() -> None:
    assert describe("Ready") == "Ready"
    assert describe("delete") == "deleted"

    def two_replicas(obj: dict[str, object]) -> bool:
        return True

    assert describe(two_replicas) == "accepted by two_replicas"


def test_holds_takes_phases_and_callables() -> None:
    claim = {"status": {"phase": "Bound"}}
    assert holds(claim, "Bound")
    assert not holds(claim, "Pending")
    assert holds(claim, lambda obj: obj["status"]["phase"] == "Bound")


def test_fail_fast_ends_on_a_listed_reason_only() -> None:
    fail_fast([crashing("a")], ())
    with pytest.raises(LabError, match=r"pod/a is CrashLoopBackOff"):
        fail_fast([crashing("a")], ("CrashLoopBackOff",))


def test_a_lambda_is_a_condition_and_a_function_keeps_its_name() -> None:
    def leader_ready() -> bool:
        return True

    assert condition_name(leader_ready) == "leader_ready"
    assert condition_name(lambda: True) == "a condition"
