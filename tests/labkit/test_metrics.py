"""Prometheus text into a tidy DataFrame, sampling over time, and plotting."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

import labkit as lk
from tests.labkit.stub_registry import StubState

TEXT = """# TYPE mcp_registry_agents_total untyped
mcp_registry_agents_total{status="healthy"} 3
mcp_registry_agents_total{status="unhealthy"} 1
# TYPE mcp_registry_leader gauge
mcp_registry_leader 1
"""


def test_parse_metrics_gives_one_row_per_sample_with_label_columns() -> None:
    df = lk.parse_metrics(TEXT)
    assert list(df.columns[:4]) == ["name", "labels", "value", "timestamp"]
    assert df["status"].tolist()[:2] == ["healthy", "unhealthy"]
    assert df["status"].isna().tolist() == [False, False, True]
    healthy = lk.select_metric(df, "mcp_registry_agents_total", status="healthy")
    assert healthy["value"].tolist() == [3.0]
    assert df[df["name"] == "mcp_registry_leader"]["labels"].tolist() == [{}]


def test_invalid_text_is_one_clear_error() -> None:
    with pytest.raises(lk.LabError, match="not valid Prometheus text"):
        lk.parse_metrics("metric{unclosed 1\n")


def test_scrape_and_sample_a_live_endpoint(stub: tuple[str, StubState]) -> None:
    url, state = stub
    first = lk.scrape_metrics(url)
    assert lk.select_metric(first, "mcp_registry_agents_total", status="healthy")["value"].tolist() == [0.0]
    state.agents["a"] = {"id": "a"}
    samples = lk.sample_metrics(url + "/metrics", every=0.2, duration=0.4, progress=False)
    assert samples["timestamp"].nunique() == 3
    assert (
        lk.select_metric(samples, "mcp_registry_agents_total", status="healthy")["value"].tolist()
        == [1.0] * 3
    )


def test_plot_metrics_draws_one_line_per_label_set(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    samples = lk.sample_metrics(url, every=0.1, duration=0.2, progress=False)
    ax = lk.plot_metrics(samples, "mcp_registry_agents_total", by="status")
    assert len(ax.get_lines()) == 2
    assert ax.get_title() == "mcp_registry_agents_total"


def test_plotting_an_unknown_metric_names_what_exists(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    with pytest.raises(lk.BadParameter, match=r"no samples of metric 'nope'.*mcp_registry_agents_total"):
        lk.plot_metrics(lk.scrape_metrics(url), "nope")
