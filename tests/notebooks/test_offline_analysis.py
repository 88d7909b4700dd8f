"""Notebook 06's analysis runs without a cluster, on the saved CSV, through papermill."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from labkit.records import read_records
from tests.notebooks.notebook_files import NOTEBOOKS
from tests.notebooks.papermill_run import execute, runs_dir

SAVED_CSV = NOTEBOOKS / "data" / "load-register-sample.csv"


def test_the_saved_csv_is_a_real_load_test_result() -> None:
    df = pd.read_csv(SAVED_CSV)
    assert list(df.columns) == ["started", "latency_s", "status", "ok"]
    assert len(df) == 100
    assert df["ok"].all()
    assert (df["status"] == 200).all()
    assert (df["latency_s"] > 0).all()


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_load_analysis_runs_offline() -> None:
    output = execute(
        NOTEBOOKS / "06-load-and-metrics.ipynb",
        runs_dir(),
        {"offline": True},
        cell_timeout=120,
        name="06-load-and-metrics-offline.ipynb",
    )
    records = read_records(output)
    df = pd.read_csv(SAVED_CSV)
    assert records["load_requests"] == len(df)
    assert records["load_success_rate"] == 1.0
    assert records["load_p95_ms"] == pytest.approx(df["latency_s"].quantile(0.95) * 1000, abs=0.01)
    assert not Path(output).read_text().count('"ename"')
