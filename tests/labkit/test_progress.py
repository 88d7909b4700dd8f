"""Progress: in an executed notebook a bar is one line at its end, and only for waits of two seconds on."""

from __future__ import annotations

import os
import time

import pytest

import labkit as lk
from labkit import progress
from labkit.progress import LineBar, line_progress, progress_bar


def test_line_mode_is_set_for_the_kernels_started_inside_and_restored() -> None:
    assert os.environ.get(progress.MODE_VARIABLE) != progress.LINES
    with line_progress():
        assert isinstance(progress_bar(total=3, desc="x"), LineBar)
    assert os.environ.get(progress.MODE_VARIABLE) != progress.LINES


def test_a_short_bar_says_nothing_and_a_long_one_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with LineBar(total=5, desc="quick") as bar:
        bar.set_postfix_str("ready")
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(progress, "QUIET_BELOW_S", 0.0)
    with LineBar(total=5, desc="rollout of statefulset/x") as bar:
        for _ in range(50):
            bar.set_postfix_str("1/3 ready")
            bar.refresh()
        bar.set_postfix_str("3/3 ready")
    assert capsys.readouterr().out.splitlines() == ["… rollout of statefulset/x took 0s: 3/3 ready"]


def test_iterating_counts_and_closes_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "QUIET_BELOW_S", 0.0)
    bar = LineBar(range(4), desc="sampling")
    assert list(bar) == [0, 1, 2, 3]
    bar.close()
    assert bar.n == 4
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_sleep_waits_the_time_and_refuses_bad_input() -> None:
    started = time.monotonic()
    lk.sleep(0.3, "a short pause", progress=False)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(lk.BadParameter):
        lk.sleep(-1, "never")
    with pytest.raises(lk.BadParameter):
        lk.sleep(1, None)  # type: ignore[arg-type]
