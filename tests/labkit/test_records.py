"""record/read_records: values kept as display outputs in a notebook and read back."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest

import labkit as lk


def notebook_with_outputs(path: Path, outputs: list[dict[str, object]]) -> Path:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("lk.record(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data) for data in outputs]
    notebook.cells = [nbformat.v4.new_markdown_cell("# title"), cell]
    nbformat.write(notebook, path)
    return path


def test_read_records_collects_by_name_and_the_last_record_wins(tmp_path: Path) -> None:
    path = notebook_with_outputs(
        tmp_path / "n.ipynb",
        [
            {lk.RECORD_MIME: {"name": "ready_replicas", "value": 1}, "text/plain": "x"},
            {"text/plain": "an ordinary output"},
            {lk.RECORD_MIME: {"name": "ready_replicas", "value": 3}},
            {lk.RECORD_MIME: {"name": "summary", "value": {"p95_ms": 12.5}}},
        ],
    )
    assert lk.read_records(path) == {"ready_replicas": 3, "summary": {"p95_ms": 12.5}}


def test_record_outside_a_kernel_prints_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    lk.record("success_rate", np.float64(0.99))
    assert "recorded success_rate = 0.99" in capsys.readouterr().out


def test_record_turns_nan_into_null_and_rejects_objects() -> None:
    from labkit.records import json_value

    assert json_value("x", {"a": math.nan, "b": [np.int64(2)]}) == {"a": None, "b": [2]}
    with pytest.raises(lk.BadParameter, match="record 'x': the value must be JSON-serialisable"):
        json_value("x", object())


def test_read_records_of_a_missing_notebook_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(lk.LabError, match=r"notebook '.*missing\.ipynb' does not exist"):
        lk.read_records(tmp_path / "missing.ipynb")
