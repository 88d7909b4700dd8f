"""Execute a notebook with papermill for a test: the executed copy is kept, a failure names its cell."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import papermill

from labkit.progress import line_progress

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_VARIABLE = "LABKIT_TEST_RUNS_DIR"


def runs_dir() -> Path:
    """Where this session keeps executed notebooks: $LABKIT_TEST_RUNS_DIR, else runs/pytest-<UTC time>/."""
    chosen = os.environ.get(RUNS_VARIABLE)
    path = Path(chosen) if chosen else REPO_ROOT / "runs" / f"pytest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    path.mkdir(parents=True, exist_ok=True)
    return path


class NotebookFailed(AssertionError):
    """A notebook run that stopped: which cell, its source, and the error (or the timeout)."""


def failing_cell(output: Path) -> str:
    """The first cell of an executed copy that shows an error or was still running when the run ended."""
    notebook = nbformat.read(output, as_version=4)
    for index, cell in enumerate(notebook.cells):
        state = cell.get("metadata", {}).get("papermill", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors or state.get("exception") or state.get("status") == "running":
            detail = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else "no error output"
            return f"cell {index} ({detail}):\n{cell.source}"
    return "(no failing cell found in the executed copy)"


def execute(
    notebook: Path, output_dir: Path, parameters: dict[str, Any], cell_timeout: float, name: str | None = None
) -> Path:
    """Run notebook with parameters; return the executed copy. Raise NotebookFailed on an error or timeout."""
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / (name or notebook.name)
    print(f"executed copy: {output}")
    try:
        with line_progress():
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name="python3",
                language="python",
                cwd=str(notebook.parent),
                progress_bar=False,
                execution_timeout=int(cell_timeout),
            )
    except Exception as exc:  # cell errors, cell timeouts and dead kernels all end the run
        where = failing_cell(output) if output.exists() else f"{exc}"
        summary = f"{notebook.name} failed ({type(exc).__name__}); executed copy {output}"
        raise NotebookFailed(f"{summary}\n{where}") from exc
    return output
