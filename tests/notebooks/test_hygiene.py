"""The committed notebooks are clean sources: no outputs, literal parameters, no shell-outs, buildable."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from tests.notebooks.notebook_files import (
    LESSONS,
    NOTEBOOKS,
    literal_parameters,
    notebook_paths,
    parameters_cells,
    read,
)

SHELL_KUBECTL = re.compile(
    r"^\s*!.*\bkubectl\b|^\s*%%(bash|sh|script)|subprocess\.\w+\(\s*\[?\s*['\"]kubectl", re.M
)
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info"}


def test_every_lesson_exists() -> None:
    assert [path.stem for path in notebook_paths()] == LESSONS


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_no_outputs_execution_counts_or_kernel_specific_metadata(path: Path) -> None:
    notebook = read(path)
    assert set(notebook.metadata) <= ALLOWED_NOTEBOOK_METADATA
    assert notebook.metadata.get("kernelspec", {}).get("name", "python3") == "python3"
    for index, cell in enumerate(notebook.cells):
        metadata = dict(cell.get("metadata", {}))
        if "solution" in metadata.get("tags", []):
            collapsed = metadata.pop("jupyter", None) == {"source_hidden": True}
            assert collapsed, f"cell {index}: solution not collapsed"
        assert set(metadata) <= {"tags"}, f"cell {index} carries metadata {cell.metadata}"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs"
            assert cell.execution_count is None, f"cell {index} has an execution count"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_one_parameters_cell_of_literals_with_the_common_parameters(path: Path) -> None:
    cells = parameters_cells(read(path))
    assert len(cells) == 1, "exactly one cell tagged `parameters`"
    values = literal_parameters(cells[0].source)
    assert {"cluster", "namespace", "cleanup"} <= set(values)
    assert (values["cluster"], values["namespace"], values["cleanup"]) == ("local", "mcp-mesh", True)
    timeouts = {name: value for name, value in values.items() if name.endswith("_timeout")}
    assert all(isinstance(v, int | float) and v > 0 for v in timeouts.values()), timeouts


def test_the_parameters_check_rejects_code() -> None:
    with pytest.raises(ValueError, match="not a literal"):
        literal_parameters("cluster = get_cluster()")
    with pytest.raises(ValueError, match="not a plain assignment"):
        literal_parameters("import os")
    assert literal_parameters("replicas = 3\ncleanup = True") == {"replicas": 3, "cleanup": True}


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_code_parses_and_never_shells_out_to_kubectl(path: Path) -> None:
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type != "code":
            continue
        assert not SHELL_KUBECTL.search(cell.source), f"cell {index} runs kubectl outside labkit"
        ast.parse(cell.source)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_lesson_shape_title_checks_summary_and_cleanup(path: Path) -> None:
    cells = read(path).cells
    assert cells[0].cell_type == "markdown", "starts with a title"
    assert cells[0].source.startswith("# "), "starts with a title"
    code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
    markdown = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    assert "lk.check(" in code
    assert "## Summary" in markdown
    assert "if cleanup" in code or "cleanup" not in literal_parameters(parameters_cells(read(path))[0].source)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_every_lesson_ends_with_an_exercise_its_check_and_a_collapsed_solution(path: Path) -> None:
    cells = read(path).cells
    values = literal_parameters(parameters_cells(read(path))[0].source)
    assert values.get("solutions") is False, "a `solutions = False` parameter (the test suite sets it True)"
    solutions = [i for i, c in enumerate(cells) if "solution" in c.get("metadata", {}).get("tags", [])]
    checks = [i for i, c in enumerate(cells) if c.cell_type == "code" and "lk.exercise(" in c.source]
    assert solutions, "at least one exercise: a solution cell"
    assert checks, "at least one exercise: a check cell with lk.exercise"
    for solution in solutions:
        assert cells[solution].source.startswith("if solutions:"), "a solution runs only when asked for"
        assert any(check > solution for check in checks), "each solution is followed by its check"
        assert cells[solution - 1].cell_type == "code", "a task cell comes before the solution"
    assert any("Exercise" in c.source for c in cells if c.cell_type == "markdown")


def test_notebooks_match_their_sources() -> None:
    result = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "_build" / "build_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path: Path) -> None:
    # papermill's own parser gives up on some comments (an apostrophe, for one) and then warns
    # "Passed unknown parameter" for every value `labkit run -p` passes.
    declared = literal_parameters(parameters_cells(read(path))[0].source)
    assert set(papermill.inspect_notebook(str(path))) == set(declared)
