"""The working copy: written once, following the kit while untouched, attendees' edits kept until fresh."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit.paths import NOTEBOOKS
from labkit.workshop.kernel import KERNEL_NAME
from labkit.workshop.workcopy import prepare_working_copy, set_parameter


@pytest.fixture
def lessons(tmp_path: Path) -> Path:
    folder = tmp_path / "lessons"
    folder.mkdir()
    for name in ("00-prerequisites.ipynb", "01-storage.ipynb"):
        shutil.copy(NOTEBOOKS / name, folder / name)
    return folder


def edit_first_code_cell(path: Path, text: str) -> None:
    notebook = nbformat.read(str(path), as_version=4)
    cell = next(
        c for c in notebook.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])
    )
    cell.source += text
    nbformat.write(notebook, str(path))


def test_a_new_copy_has_every_lesson_with_the_labs_kernel(lessons: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    report = prepare_working_copy(lessons, work, {"namespace": "mcp-mesh"})
    assert report.written == ["00-prerequisites.ipynb", "01-storage.ipynb"]
    copy = json.loads((work / "00-prerequisites.ipynb").read_text())
    assert copy["metadata"]["kernelspec"]["name"] == KERNEL_NAME


def test_parameters_follow_the_chosen_cluster_and_namespace(lessons: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    prepare_working_copy(lessons, work, {"namespace": "alice", "cluster": "kind-kind"})
    notebook = nbformat.read(str(work / "00-prerequisites.ipynb"), as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert 'cluster = "kind-kind"' in parameters.source
    assert 'namespace = "alice"' in parameters.source
    assert "# local: the embedded cluster" in parameters.source  # the comment stays


def test_edits_are_kept_and_reported_until_fresh(lessons: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    prepare_working_copy(lessons, work, {"namespace": "mcp-mesh"})
    edited = work / "00-prerequisites.ipynb"
    edit_first_code_cell(edited, "\nprint('my experiment')")
    before = edited.read_text()

    report = prepare_working_copy(lessons, work, {"namespace": "other"})
    assert report.kept_edits == ["00-prerequisites.ipynb"]
    assert report.written == ["01-storage.ipynb"]  # untouched: it follows the new parameters
    assert edited.read_text() == before

    fresh = prepare_working_copy(lessons, work, {"namespace": "other"}, fresh=True)
    assert "00-prerequisites.ipynb" in fresh.written
    assert "my experiment" not in edited.read_text()


def test_saved_outputs_are_not_edits(lessons: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    prepare_working_copy(lessons, work, {"namespace": "mcp-mesh"})
    path = work / "00-prerequisites.ipynb"
    notebook = nbformat.read(str(path), as_version=4)
    notebook.cells[2].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
    nbformat.write(notebook, str(path))
    report = prepare_working_copy(lessons, work, {"namespace": "mcp-mesh"})
    assert report.unchanged == ["00-prerequisites.ipynb", "01-storage.ipynb"]
    assert "ran" in path.read_text()


def test_set_parameter_replaces_only_the_named_string() -> None:
    source = 'cluster = "local"  # where\nnamespace = "mcp-mesh"\nimage = "x"\n'
    assert (
        set_parameter(source, "namespace", "bob")
        == 'cluster = "local"  # where\nnamespace = "bob"\nimage = "x"\n'
    )
