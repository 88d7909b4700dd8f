"""The lab's notebooks: where they are, and how to read their cells."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = [
    "00-prerequisites",
    "01-storage",
    "02-statefulset",
    "03-verify",
    "04-high-availability",
    "05-pitfalls",
    "06-load-and-metrics",
    "07-production-postgres",
    "08-backup-restore",
    "99-cleanup",
]


def notebook_paths() -> list[Path]:
    """Every committed lesson notebook, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    """A notebook, validated against the nbformat schema."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def parameters_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The code cells tagged ``parameters`` (papermill injects its values after such a cell)."""
    return [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", [])
    ]


def literal_parameters(source: str) -> dict[str, object]:
    """name -> value of a parameters cell; raises ValueError unless every statement is `name = literal`."""
    values: dict[str, object] = {}
    for statement in ast.parse(source).body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise ValueError(f"not a plain assignment: {ast.unparse(statement)}")
        try:
            values[statement.targets[0].id] = ast.literal_eval(statement.value)
        except ValueError:
            raise ValueError(f"not a literal: {ast.unparse(statement)}") from None
    return values
