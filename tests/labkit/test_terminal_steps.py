""" "Try it in the terminal" on the local cluster: the command shown is run with the real kubectl and its
output checked; a wrong expectation fails the step, and only kubectl commands are offered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import labkit as lk

NAMESPACE = "lk-terminal-steps"


@pytest.fixture(scope="module")
def lab(local_cluster: Any) -> Iterator[lk.Lab]:
    lab = lk.connect(local_cluster, namespace=NAMESPACE, progress=False)
    lab.ensure_namespace()
    yield lab
    lab.delete(f"namespace/{NAMESPACE}", wait=False)


def test_the_command_runs_and_its_output_is_shown(lab: lk.Lab, capsys: pytest.CaptureFixture[str]) -> None:
    output = lk.try_in_terminal(lab, "kubectl get nodes", expect=r"\sReady\s")
    shown = capsys.readouterr().out
    assert "▶ try it in the terminal (File › New › Terminal):  kubectl get nodes" in shown
    assert "labkit-node" in output
    assert "✓ `kubectl get nodes` shows what the lesson says" in shown


def test_the_namespace_comes_from_the_lab_as_the_terminal_sets_it(lab: lk.Lab) -> None:
    lab.kubectl("create", "configmap", "terminal-step", "--from-literal=a=b")
    lk.try_in_terminal(lab, "kubectl get configmap terminal-step", expect=r"^terminal-step\s")


def test_a_wrong_expectation_fails_and_bad_input_is_refused(lab: lk.Lab) -> None:
    with pytest.raises(lk.CheckFailed, match=r"expected /NotReady-at-all/"):
        lk.try_in_terminal(lab, "kubectl get nodes", expect="NotReady-at-all")
    with pytest.raises(lk.BadParameter, match="kubectl commands"):
        lk.try_in_terminal(lab, "curl http://127.0.0.1", expect="x")
    with pytest.raises(lk.BadParameter, match="expect"):
        lk.try_in_terminal(lab, "kubectl get nodes", expect="")
