"""Notebook 06's analysis runs without a cluster, on the saved Prometheus answers, through papermill."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from labkit.prometheus import result_frame
from labkit.query_sets import LEADER_QUERIES, LOAD_QUERIES, SavedQueries, count_between
from labkit.records import read_records
from tests.notebooks.notebook_files import NOTEBOOKS
from tests.notebooks.papermill_run import execute, runs_dir

DATA = NOTEBOOKS / "data"


def test_the_saved_load_is_a_real_run_read_from_prometheus() -> None:
    saved = SavedQueries(DATA / "load-queries.json")
    assert set(LOAD_QUERIES) <= set(saved.queries)
    assert all(saved.answers[expr]["resultType"] == "matrix" for expr in saved.queries.values())
    client = pd.DataFrame(saved.about["client"])
    assert sorted(set(client["kind"])) == ["heartbeat", "register"]
    assert (client["kind"] == "register").sum() == 100  # the guide's 100 registrations
    assert client["ok"].all()
    assert saved.window.start < saved.about["started"] < saved.about["ended"] < saved.window.end
    counter = pd.DataFrame(saved.answers[saved.queries["post_requests_by_route_total"]]["result"])
    assert not counter.empty


def test_the_saved_failover_holds_the_leader_series() -> None:
    saved = SavedQueries(DATA / "failover-queries.json")
    assert saved.queries == dict(LEADER_QUERIES)
    assert saved.about["crash"]["leader_s"] > 0


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
    saved = SavedQueries(DATA / "load-queries.json")
    client = pd.DataFrame(saved.about["client"])
    registrations = client[client["kind"] == "register"]
    assert records["load_requests"] == len(registrations)
    assert records["load_success_rate"] == 1.0
    assert records["load_p95_ms"] == pytest.approx(saved.about["summaries"]["register"]["p95_ms"], abs=0.01)
    answer = saved.answers[saved.queries["post_requests_by_route_total"]]
    counted = count_between(
        result_frame(answer["resultType"], answer["result"]), saved.about["started"], saved.about["ended"] + 5
    )
    assert records["prometheus_counted_registrations"] == counted["/agents"] == len(registrations)
    assert records["no_leader_seconds"] == 3.0  # the saved run's gap, at 1-s steps
    assert not Path(output).read_text().count('"ename"')
