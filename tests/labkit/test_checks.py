"""check, expect_failure and show: one printed line each, and failures that raise."""

from __future__ import annotations

import re

import pytest

import labkit as lk


def test_a_passing_check_prints_a_tick(capsys: pytest.CaptureFixture[str]) -> None:
    lk.check(1 + 1 == 2, "arithmetic works")
    assert capsys.readouterr().out == "✓ arithmetic works\n"


def test_a_failing_check_prints_the_hint_and_raises(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(lk.CheckFailed, match=re.escape("pods ready — run lab.events()")):
        lk.check([], "pods ready", hint="run lab.events()")
    assert capsys.readouterr().out == "✗ pods ready — run lab.events()\n"


def test_check_failed_is_a_lab_error_and_an_assertion() -> None:
    assert issubclass(lk.CheckFailed, lk.LabError)
    assert issubclass(lk.CheckFailed, AssertionError)


def test_expect_failure_returns_and_shows_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    def bad_config(value: str) -> None:
        raise ValueError(f"AGENT_TIMEOUT={value!r} is not a duration")

    error = lk.expect_failure(bad_config, "soon", match="not a duration")
    assert isinstance(error, ValueError)
    assert (
        "failed as expected — ValueError: AGENT_TIMEOUT='soon' is not a duration" in capsys.readouterr().out
    )


def test_expect_failure_raises_when_nothing_fails() -> None:
    with pytest.raises(lk.CheckFailed, match="was expected to fail, but returned 3"):
        lk.expect_failure(lambda: 3)


def test_expect_failure_raises_when_the_error_does_not_match() -> None:
    def boom() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(lk.CheckFailed, match="does not match 'CrashLoopBackOff'"):
        lk.expect_failure(boom, match="CrashLoopBackOff")


def test_show_prints_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    lk.show("kubectl get pods -n mcp-mesh")
    assert capsys.readouterr().out == "$ kubectl get pods -n mcp-mesh\n"


def test_a_check_description_of_the_wrong_type_is_a_bad_parameter() -> None:
    with pytest.raises(lk.BadParameter, match="what must be a string"):
        lk.check(True, 42)  # type: ignore[arg-type]
