"""``labkit jupyter`` on bad input: one line saying what is wrong and what to do, and nothing changed; and
``--fresh`` restoring a working copy an attendee edited."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from labkit.workshop import kernel
from tests.labkit.workshop.jupyter_process import cluster_environment, labkit_command, labkit_jupyter

DEAD_CLUSTER = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "gone", "user": {"token": "t"}}],
    "contexts": [{"name": "kind-gone", "context": {"cluster": "gone", "user": "gone"}}],
    "current-context": "kind-gone",
}


def run_jupyter(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        labkit_command("jupyter", *args), capture_output=True, text=True, env=env, timeout=120, check=False
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("labkit: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment whose kubeconfig holds one context to a cluster that is not there."""
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(DEAD_CLUSTER))
    return {**os.environ, "KUBECONFIG": str(config), "XDG_STATE_HOME": str(tmp_path / "state")}


def test_a_port_in_use(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line(
            run_jupyter(env, "--context", "kind-gone", "--port", str(port), "--workdir", str(tmp_path / "w"))
        )
    assert f"port {port} on 127.0.0.1 is in use" in line
    assert "--port" in line
    assert not (tmp_path / "w").exists()


def test_a_wrong_context(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line(run_jupyter(env, "--context", "kind-kidn", "--workdir", str(tmp_path / "w")))
    assert "no context 'kind-kidn'" in line
    assert "it has: kind-gone" in line
    assert "--context" in line
    assert not (tmp_path / "w").exists()


def test_a_cluster_that_does_not_answer(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line(run_jupyter(env, "--context", "kind-gone", "--workdir", str(tmp_path / "w")))
    assert "https://127.0.0.1:9" in line
    assert "does not answer" in line
    assert "start the cluster" in line
    assert not (tmp_path / "w").exists()


def test_no_local_cluster_and_no_way_to_start_one(env: dict[str, str], tmp_path: Path) -> None:
    # A file where the cluster's state folder must go: the local cluster cannot start there.
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "labkit").write_text("not a folder")
    line = one_line(run_jupyter(env, "--workdir", str(tmp_path / "w")))
    assert line.startswith("labkit: there is no cluster")
    assert "--context" in line
    assert not (tmp_path / "w").exists()


def test_a_kernel_from_another_environment(env: dict[str, str], tmp_path: Path) -> None:
    foreign = tmp_path / "jupyter" / "kernels" / kernel.KERNEL_NAME
    foreign.mkdir(parents=True)
    spec = json.dumps({"argv": ["/opt/other-env/bin/python", "-m", "ipykernel_launcher"]})
    (foreign / "kernel.json").write_text(spec)
    env = {**env, "JUPYTER_PATH": str(tmp_path / "jupyter")}
    line = one_line(run_jupyter(env, "--context", "kind-gone", "--workdir", str(tmp_path / "w")))
    assert "/opt/other-env/bin/python, another environment" in line
    assert "jupyter kernelspec remove mcp-mesh-lab" in line
    assert "--fresh" in line
    assert (foreign / "kernel.json").read_text() == spec
    assert sys.executable not in line


def add_line_to_first_code_cell(path: Path, text: str) -> None:
    notebook = nbformat.read(str(path), as_version=4)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and "import labkit" in c.source)
    cell.source += f"\n{text}"
    nbformat.write(notebook, str(path))


@pytest.mark.timeout(600)
def test_fresh_restores_a_working_copy_with_edits(local_cluster: Any, tmp_path: Path) -> None:
    env = cluster_environment(local_cluster)
    workdir = tmp_path / "work"
    lesson = workdir / "00-prerequisites.ipynb"
    with labkit_jupyter(env, "--workdir", str(workdir)) as first:
        assert any("10 written" in line for line in first.lines), first.lines
    add_line_to_first_code_cell(lesson, "print('an attendee was here')")

    with labkit_jupyter(env, "--workdir", str(workdir)) as second:
        kept = [line for line in second.lines if "kept your edits" in line]
        assert kept
        assert "00-prerequisites.ipynb" in kept[0]
        assert "labkit jupyter --fresh" in kept[0], second.lines
    assert "an attendee was here" in lesson.read_text()  # nothing overwritten without --fresh

    with labkit_jupyter(env, "--workdir", str(workdir), "--fresh") as third:
        assert any("(fresh): 10 written" in line for line in third.lines), third.lines
    assert "an attendee was here" not in lesson.read_text()


@pytest.mark.timeout(300)
def test_ctrl_c_stops_it_when_a_script_started_it_in_the_background(
    local_cluster: Any, tmp_path: Path
) -> None:
    """A shell starts `labkit jupyter &` with SIGINT ignored; Ctrl-C (kill -INT) must still stop it."""
    env = cluster_environment(local_cluster)
    with labkit_jupyter(env, "--workdir", str(tmp_path / "work"), sigint_ignored=True) as run:
        assert run.url
    # labkit_jupyter asserted exit status 0, "JupyterLab stopped" and that nothing answers at the URL.
    assert "labkit jupyter: stopping JupyterLab" in run.lines, run.lines


def test_the_local_cluster_gets_the_server_minor_kubectl_alone_first_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit.paths import kubectl_path
    from labkit.workshop import command

    built = tmp_path / "cache-bin" / "kubectl"
    built.parent.mkdir()
    built.write_text("#!/bin/sh\n")
    (built.parent / "kubelet").write_text("#!/bin/sh\n")
    monkeypatch.setattr(command.streams, "server_kubectl", lambda version: str(built))
    chosen = command.lab_kubectl(True, "v1.20.2", tmp_path / "kubectl-v1.20.2")
    assert Path(chosen).resolve() == built
    assert sorted(p.name for p in Path(chosen).parent.iterdir()) == ["kubectl"], "no other cluster binary"
    assert command.lab_kubectl(True, "v1.20.2", tmp_path / "kubectl-v1.20.2") == chosen, "idempotent"
    path = command.lab_environment("cfg", chosen)["PATH"].split(os.pathsep)
    assert path[0] == str(Path(chosen).parent)
    assert command.lab_kubectl(False, "v1.29.0", tmp_path / "other") == kubectl_path(), "another cluster"
