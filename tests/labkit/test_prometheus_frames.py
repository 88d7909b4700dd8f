"""labkit.prometheus's pure parts: Prometheus's answers shaped into tidy frames, metric names in PromQL,
the targets' one-line account, and parameters refused before any request."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import labkit as lk
from labkit.prometheus import describe_targets, metric_names_in, result_frame

VECTOR = [
    {"metric": {"__name__": "up", "job": "mcp-registry", "instance": "b:9090"}, "value": [1700000001.5, "0"]},
    {"metric": {"__name__": "up", "job": "mcp-registry", "instance": "a:9090"}, "value": [1700000001.5, "1"]},
]
MATRIX = [
    {"metric": {"route": "/heartbeat"}, "values": [[1700000000, "1"], [1700000015, "NaN"]]},
    {"metric": {"route": "/agents", "status": "200"}, "values": [[1700000000, "+Inf"]]},
]


def test_a_vector_is_a_row_per_series_with_a_column_per_label() -> None:
    frame = result_frame("vector", VECTOR)
    assert list(frame.columns) == ["instance", "job", "name", "timestamp", "value"]
    assert frame["instance"].tolist() == ["a:9090", "b:9090"], "sorted by labels"
    assert frame["value"].tolist() == [1.0, 0.0]
    assert frame["timestamp"].iloc[0] == pd.Timestamp(1700000001.5, unit="s", tz="UTC")


def test_a_matrix_is_a_row_per_sample_and_a_missing_label_is_empty() -> None:
    frame = result_frame("matrix", MATRIX)
    assert list(frame.columns) == ["route", "status", "timestamp", "value"]
    assert len(frame) == 3
    heartbeat = frame[frame["route"] == "/heartbeat"]
    assert heartbeat["timestamp"].diff().dt.total_seconds().iloc[1] == 15
    assert math.isnan(heartbeat["value"].iloc[1])
    assert frame[frame["route"] == "/agents"]["value"].iloc[0] == math.inf
    assert heartbeat["status"].isna().all()


def test_a_scalar_is_one_row_and_an_empty_result_keeps_the_columns() -> None:
    scalar = result_frame("scalar", [1700000000, "2.5"])
    assert scalar.to_dict("records")[0]["value"] == 2.5
    empty = result_frame("vector", [])
    assert empty.empty
    assert list(empty.columns) == ["timestamp", "value"]
    assert isinstance(empty["timestamp"].dtype, pd.DatetimeTZDtype)


def test_an_unknown_result_type_is_a_prometheus_error() -> None:
    with pytest.raises(lk.PrometheusError, match="unknown type 'histogram'"):
        result_frame("histogram", [])


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('rate(mcp_registry_requests_total{status=~"5.."}[5m])', {"mcp_registry_requests_total"}),
        (
            "histogram_quantile(0.99, sum by (le) (rate(mcp_registry_request_duration_seconds_bucket[5m])))",
            {"mcp_registry_request_duration_seconds_bucket"},
        ),
        ("a / on (pod) group_left b offset 5m", {"a", "b"}),
        ("1e3 * nope_total > bool 2", {"nope_total"}),
        ('label_replace(up, "x", "$1", "instance", "(.*)")', {"up"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names_in(expr) == names


def test_the_targets_account_names_each_target_not_up_with_its_error() -> None:
    frame = pd.DataFrame(
        [
            {"job": "mcp-registry", "instance": "a:9090", "health": "up", "last_error": ""},
            {
                "job": "mcp-registry",
                "instance": "b:9090",
                "health": "down",
                "last_error": "connection refused",
            },
            {"job": "mcp-registry", "instance": "c:9090", "health": "unknown", "last_error": ""},
        ]
    )
    assert describe_targets(frame, 3) == (
        "1/3 up (want 3); mcp-registry b:9090 down: connection refused; mcp-registry c:9090 not scraped yet"
    )
    assert describe_targets(frame.iloc[0:0], 1) == "no target discovered yet (want 1)"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.query(42), "expr must be str"),
        (lambda p: p.query_range("up", start="yesterday-ish"), "start is not a time"),
        (lambda p: p.query_range("up", start=100.0, end=50.0), "end .* is before start"),
        (lambda p: p.query_range("up", start=0.0, step=0), "step must be a positive duration"),
        (lambda p: p.query_range("up", start=0.0, step="soon"), "step is not a duration"),
        (lambda p: p.query_range("up", start=True), "start must be a time"),
        (lambda p: p.wait_for_targets(count=0), "count must be a positive whole number"),
        (lambda p: p.wait_for_targets(timeout=-1), "timeout must be a positive number"),
    ],
)
def test_bad_parameters_are_refused_before_any_request(call: object, message: str) -> None:
    prometheus = lk.Prometheus("http://127.0.0.1:9")  # discard port: a request would fail differently
    with pytest.raises(lk.BadParameter, match=message):
        call(prometheus)  # type: ignore[operator]


def test_the_url_must_be_http() -> None:
    with pytest.raises(lk.BadParameter, match="url must start with http"):
        lk.Prometheus("localhost:9090")
