"""The offline data sets' regenerating command, ``labkit run --only 06 -p save_dataset true``, on a small
run against the local cluster into a temporary folder, then the offline analysis on what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from labkit.query_sets import LEADER_QUERIES, LOAD_QUERIES, SavedQueries
from labkit.records import read_records
from tests.notebooks.notebook_files import NOTEBOOKS
from tests.notebooks.papermill_run import execute

pytestmark = [pytest.mark.notebooks, pytest.mark.cluster, pytest.mark.timeout(900)]

NAMESPACE = "labkit-dataset"
REGISTRATIONS, HEARTBEATS = 20, 60


def test_the_regenerating_command_writes_data_sets_the_offline_analysis_reads(
    local_cluster: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "KUBECONFIG": str(local_cluster.kubeconfig_path)}
    command = [
        sys.executable, "-m", "labkit.cli", "run", "--context", "labkit", "--namespace", NAMESPACE,
        "--only", "06", "--quiet",
        "--runs-dir", str(tmp_path / "runs"),
        "-p", "save_dataset", "true", "-p", "data_dir", str(data),
        "-p", "register_requests", str(REGISTRATIONS), "-p", "heartbeat_requests", str(HEARTBEATS),
        "-p", "heartbeat_seconds", "2",
    ]  # fmt: skip
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=800, env=env)
        assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    finally:
        subprocess.run(
            [sys.executable, "-m", "labkit.cli", "run", "--context", "labkit", "--namespace", NAMESPACE,
             "--only", "99", "--quiet",
             "--runs-dir", str(tmp_path / "runs")],
            capture_output=True, text=True, timeout=300, check=False, env=env,
        )  # fmt: skip
    load = SavedQueries(data / "load-queries.json")
    assert set(LOAD_QUERIES) <= set(load.queries)
    client = pd.DataFrame(load.about["client"])
    assert (client["kind"] == "register").sum() == REGISTRATIONS
    heartbeats = int((client["kind"] == "heartbeat").sum())
    assert heartbeats >= HEARTBEATS
    assert heartbeats % HEARTBEATS == 0  # whole rounds of the same agents
    assert SavedQueries(data / "failover-queries.json").queries == dict(LEADER_QUERIES)

    output = execute(
        NOTEBOOKS / "06-load-and-metrics.ipynb",
        tmp_path / "offline",
        {"offline": True, "data_dir": str(data)},
        cell_timeout=120,
    )
    records = read_records(output)
    assert records["load_requests"] == REGISTRATIONS
    assert records["prometheus_counted_registrations"] == REGISTRATIONS
