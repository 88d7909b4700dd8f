"""`labkit run` on a folder of tiny notebooks: real papermill, a real kernel, records and a summary."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from labkit import cli

PARAMETERS = 'cluster = "local"\nnamespace = "mcp-mesh"\n'


def write_notebook(path: Path, *sources: str) -> None:
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, *(nbformat.v4.new_code_cell(source) for source in sources)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.mark.timeout(180)
def test_run_executes_in_order_records_figures_and_fails_on_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(
        notebooks / "00-good.ipynb",
        "import labkit as lk\nlk.record('cluster_seen', cluster)\nlk.record('answer', 6 * 7)",
    )
    write_notebook(
        notebooks / "01-bad.ipynb", "import labkit as lk\nlk.check(False, 'the impossible', hint='expected')"
    )
    write_notebook(notebooks / "02-skipped-by-only.ipynb", "raise SystemExit(3)")
    runs = tmp_path / "runs"

    status = cli.main(
        [
            "run",
            "--context",
            "kind-test",
            "--notebooks",
            str(notebooks),
            "--runs-dir",
            str(runs),
            "--only",
            "00",
            "01",
            "--quiet",
            "-p",
            "replicas",
            "3",
        ]
    )

    assert status == 1
    (run_dir,) = runs.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["parameters"] == {"cluster": "kind-test", "namespace": "mcp-mesh", "replicas": 3}
    assert (summary["passed"], summary["failed"]) == (1, 1)
    good, bad = summary["notebooks"]
    assert good["notebook"] == "00-good.ipynb"
    assert good["status"] == "passed"
    assert good["records"] == {"cluster_seen": "kind-test", "answer": 42}
    assert bad["status"] == "failed"
    assert "CheckFailed: the impossible — expected" in bad["error"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["00-good.ipynb", "01-bad.ipynb", "summary.json"]
    out = capsys.readouterr().out
    assert "answer=42" in out
    assert "✗ failed" in out

    assert cli.main(["records", str(run_dir / "00-good.ipynb")]) == 0
    assert json.loads(capsys.readouterr().out) == {"cluster_seen": "kind-test", "answer": 42}


def test_only_that_matches_nothing_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_notebook(tmp_path / "00-a.ipynb", "1")
    status = cli.main(["run", "--context", "x", "--notebooks", str(tmp_path), "--only", "42", "--quiet"])
    assert status == 1
    assert capsys.readouterr().err.strip() == f"labkit: --only 42 matches no notebook in {tmp_path}"
