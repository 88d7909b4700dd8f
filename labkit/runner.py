"""``labkit run``: every notebook in order through papermill, executed copies and a summary."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labkit.errors import BadParameter, LabError
from labkit.paths import NOTEBOOKS, REPO_ROOT
from labkit.progress import line_progress, progress_bar
from labkit.progress import write as write_line
from labkit.records import read_records

# The kernel's own start-up warnings (e.g. "running over TCP without encryption") are noise here.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


@dataclass
class NotebookResult:
    """How one notebook went."""

    notebook: str
    status: str
    duration_s: float
    output: str
    records: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def find_notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The lab's notebooks (``NN-name.ipynb``) in order; ``only`` keeps names starting with a prefix."""
    if not folder.is_dir():
        raise LabError(f"notebook folder {folder} does not exist")
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.name[:1].isdigit())
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(prefix) for prefix in only)]
        if not notebooks:
            raise BadParameter(f"--only {' '.join(only)} matches no notebook in {folder}")
    if not notebooks:
        raise LabError(f"no notebooks (NN-name.ipynb) in {folder}")
    return notebooks


def new_run_dir(runs_dir: Path) -> Path:
    """A fresh ``runs/<UTC timestamp>/`` folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = runs_dir / stamp
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = runs_dir / f"{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def failure_text(exc: BaseException) -> str:
    """One line for a failed notebook: papermill's cell error name and value, else the exception."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"


def run_notebook(
    notebook: Path, output: Path, parameters: dict[str, Any], cell_timeout: float | None, kernel: str
) -> NotebookResult:
    """Execute one notebook with papermill; never raises for a failing notebook."""
    import papermill

    started = time.monotonic()
    status, error = "passed", ""
    try:
        with line_progress():
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name=kernel,
                cwd=str(notebook.parent),
                progress_bar=False,
                execution_timeout=int(cell_timeout) if cell_timeout else None,
                extra_arguments=KERNEL_ARGUMENTS,
            )
    except Exception as exc:  # papermill raises for cell errors, timeouts and dead kernels alike
        status, error = "failed", failure_text(exc)
    duration = time.monotonic() - started
    records: dict[str, Any] = {}
    if output.exists():
        try:
            records = read_records(output)
        except LabError as exc:
            error = error or str(exc)
    return NotebookResult(notebook.name, status, round(duration, 2), str(output), records, error)


def summary_table(results: list[NotebookResult]) -> str:
    """A printed table: notebook, status, duration, recorded figures."""
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook'.ljust(width)}  status  seconds  records"]
    for r in results:
        figures = ", ".join(f"{k}={v}" for k, v in r.records.items())
        mark = "✓" if r.status == "passed" else "✗"
        lines.append(f"{r.notebook.ljust(width)}  {mark} {r.status:<6}{r.duration_s:>7.1f}  {figures}")
        if r.error:
            lines.append(f"{' ' * width}    {r.error}")
    return "\n".join(lines)


def run_lab(
    cluster: str = "local",
    namespace: str = "mcp-mesh",
    *,
    only: list[str] | None = None,
    cell_timeout: float | None = 600,
    runs_dir: Path | None = None,
    notebooks_dir: Path | None = None,
    extra_parameters: dict[str, Any] | None = None,
    kernel: str = "python3",
    progress: bool = True,
) -> tuple[Path, list[NotebookResult]]:
    """Run the notebooks in order; write executed copies and summary.json into a new run folder."""
    notebooks = find_notebooks(notebooks_dir or NOTEBOOKS, only)
    if cluster == "local":
        from labkit.lab import start_local_cluster

        start_local_cluster(progress)
    run_dir = new_run_dir(runs_dir or REPO_ROOT / "runs")
    parameters = {"cluster": cluster, "namespace": namespace, **(extra_parameters or {})}
    results: list[NotebookResult] = []
    started_at = datetime.now(UTC).isoformat()
    bar = progress_bar(notebooks, desc="lab", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        result = run_notebook(notebook, run_dir / notebook.name, parameters, cell_timeout, kernel)
        results.append(result)
        mark = "✓" if result.status == "passed" else "✗"
        write_line(f"{mark} {notebook.stem} {result.duration_s:.1f}s {result.error}".rstrip())
        write_summary(run_dir, started_at, parameters, results)
    bar.close()
    return run_dir, results


def write_summary(
    run_dir: Path, started_at: str, parameters: dict[str, Any], results: list[NotebookResult]
) -> Path:
    """Write (or rewrite) the run's summary.json and return its path."""
    summary = {
        "started": started_at,
        "parameters": parameters,
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.status != "passed" for r in results),
        "notebooks": [asdict(r) for r in results],
    }
    path = run_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path
