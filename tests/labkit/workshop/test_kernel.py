"""The lab's kernel: this environment's Python, KUBECONFIG and PATH; another environment's is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from labkit.errors import LabError
from labkit.workshop import kernel


@pytest.fixture
def jupyter_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private kernel search path: a folder in front (as $JUPYTER_PATH or the user's would be), then
    this environment's; the real environment's kernel is never touched."""
    search = [tmp_path / "front" / "kernels", tmp_path / "prefix" / "kernels"]
    monkeypatch.setattr(kernel, "kernel_search_path", lambda: search)
    monkeypatch.setattr(kernel, "own_kernel_dir", lambda: search[1] / kernel.KERNEL_NAME)
    return tmp_path


def test_installs_this_python_with_the_labs_environment(jupyter_dirs: Path) -> None:
    folder = kernel.install_kernel({"KUBECONFIG": "/k", "PATH": "/venv/bin:/usr/bin"})
    assert folder == jupyter_dirs / "prefix" / "kernels" / kernel.KERNEL_NAME
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    assert spec["display_name"] == "MCP Mesh lab"
    assert spec["env"] == {"KUBECONFIG": "/k", "PATH": "/venv/bin:/usr/bin"}


def test_a_kernel_of_another_environment_is_refused_then_replaced_with_fresh(jupyter_dirs: Path) -> None:
    foreign = jupyter_dirs / "front" / "kernels" / kernel.KERNEL_NAME
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(json.dumps({"argv": ["/elsewhere/bin/python", "-m", "ipykernel"]}))
    with pytest.raises(LabError, match=r"runs /elsewhere/bin/python, another environment.*--fresh"):
        kernel.install_kernel({"KUBECONFIG": "/k"})
    assert "/elsewhere/bin/python" in (foreign / "kernel.json").read_text()  # nothing overwritten

    replaced = kernel.install_kernel({"KUBECONFIG": "/k"}, replace_foreign=True)
    assert replaced == foreign
    assert json.loads((foreign / "kernel.json").read_text())["argv"][0] == sys.executable
