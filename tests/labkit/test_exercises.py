"""Exercises: an undone one is a line with the hint, a done one is recorded, a required one fails."""

from __future__ import annotations

import pytest

import labkit as lk
from labkit.records import RECORD_MIME


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """What record() displays, caught instead of sent to a notebook."""
    outputs: list[dict[str, object]] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False: outputs.append(data[RECORD_MIME]))
    return outputs


def test_an_undone_exercise_prints_the_hint_and_goes_on(
    capsys: pytest.CaptureFixture[str], shown: list[dict[str, object]]
) -> None:
    with lk.exercise("scale the registry"):
        lk.check(False, "3 replicas ready", "lab.scale('statefulset/mcp-mesh-registry', 3)")
    out = capsys.readouterr().out
    assert "○ exercise not done yet: scale the registry — 3 replicas ready — lab.scale(" in out
    assert "Traceback" not in out
    assert "✗" not in out  # the exercise's line tells it, not a failed check of its own
    assert shown == [
        {
            "name": "exercise_scale_the_registry",
            "value": {
                "done": False,
                "hint": "3 replicas ready — lab.scale('statefulset/mcp-mesh-registry', 3)",
            },
        }
    ]


def test_a_done_exercise_is_recorded(
    capsys: pytest.CaptureFixture[str], shown: list[dict[str, object]]
) -> None:
    with lk.exercise("label the namespace"):
        lk.check(True, "labelled")
    assert "★ exercise done: label the namespace" in capsys.readouterr().out
    assert shown[0]["value"] == {"done": True}


def test_a_required_exercise_fails_like_a_check(
    capsys: pytest.CaptureFixture[str], shown: list[dict[str, object]]
) -> None:
    with pytest.raises(lk.CheckFailed, match="hint here"), lk.exercise("x", required=True):
        lk.check(False, "x", "hint here")
    assert "✗ x — hint here" in capsys.readouterr().out
    lk.check(True, "checks outside an exercise print as before")


def test_a_missing_object_is_not_done_yet_too(
    capsys: pytest.CaptureFixture[str], shown: list[dict[str, object]]
) -> None:
    with lk.exercise("claim"):
        raise lk.ObjectNotFound("persistentvolumeclaim/scratch not found")
    assert "not done yet: claim — persistentvolumeclaim/scratch not found" in capsys.readouterr().out
