"""The notebook tests' papermill helper: a cell error and a cell timeout both fail and name the cell."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from labkit.records import read_records
from tests.notebooks.papermill_run import NotebookFailed, execute


def write_notebook(path: Path, *sources: str) -> Path:
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    parameters = nbformat.v4.new_code_cell("value = 1", metadata={"tags": ["parameters"]})
    notebook.cells = [parameters] + [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


@pytest.mark.timeout(120)
def test_a_passing_notebook_keeps_its_executed_copy_and_records(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "ok.ipynb", "import labkit as lk\nlk.record('doubled', value * 2)")
    output = execute(source, tmp_path / "out", {"value": 21}, cell_timeout=60)
    assert output.exists()
    assert read_records(output) == {"doubled": 42}


@pytest.mark.timeout(120)
def test_a_cell_error_fails_and_names_the_cell(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "bad.ipynb", "x = 1", "raise RuntimeError('broken step')")
    with pytest.raises(NotebookFailed, match=r"cell \d+ \(RuntimeError: broken step\):\nraise RuntimeError"):
        execute(source, tmp_path / "out", {}, cell_timeout=60)
    assert (tmp_path / "out" / "bad.ipynb").exists()


@pytest.mark.timeout(120)
def test_a_cell_timeout_fails_and_names_the_cell(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    with pytest.raises(NotebookFailed, match=r"cell \d+ \(.*\):\nimport time\ntime\.sleep\(60\)"):
        execute(source, tmp_path / "out", {}, cell_timeout=3)
