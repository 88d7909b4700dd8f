"""labkit.query_sets: the lesson's range queries against a real Prometheus scraping a real registry under
load, saved as a data set and read back through the same code; and what a bad data set gets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from labkit.errors import BadParameter, LabError
from labkit.monitoring import wait_for_scrape_after
from labkit.paths import MANIFESTS
from labkit.prometheus import NoData, Prometheus
from labkit.query_sets import (
    LOAD_QUERIES,
    SCRAPE_SECONDS,
    QueryWindow,
    SavedQueries,
    count_between,
    frames,
    leaderless_seconds,
    over_load_queries,
    sample_after,
    save_queries,
)
from tests.processes import run_registry
from tests.prometheus_server import run_prometheus
from tests.prometheus_tools import require_tool

pytestmark = pytest.mark.timeout(300)

POSTS = 40


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, QueryWindow]]:
    """A registry that took POSTS registrations while Prometheus scraped it each second; their window."""
    require_tool("prometheus")
    with run_registry(tmp_path_factory.mktemp("registry")) as registry:
        jobs = {"mcp-registry": [f"127.0.0.1:{registry.env['METRICS_PORT']}"]}
        with run_prometheus(tmp_path_factory.mktemp("prometheus"), jobs) as server:
            prometheus = Prometheus(server.url)
            prometheus.wait_for_targets("mcp-registry", timeout=60, progress=False)
            with httpx.Client(base_url=registry.url) as client:
                # A counter series is born at its first increment, which rate() cannot see: one post
                # first, and a scrape of it, so the load's posts are all counted.
                assert client.post("/heartbeat", json={"agent_id": "agent-0", "tools": []}).status_code == 200
                time.sleep(2)
                started = time.time()
                for index in range(1, POSTS):
                    body = {"agent_id": f"agent-{index}", "tools": []}
                    assert client.post("/heartbeat", json=body).status_code == 200
            time.sleep(3)  # a few more scrapes
            window = QueryWindow.around(started, time.time(), margin=2, step=1)
            # The window ends in the future: until a scrape after its end, a later query of it would
            # see more samples than an earlier one, and a saved answer would differ from a live one.
            wait_for_scrape_after(prometheus, window.end, "mcp-registry", timeout=30, progress=False)
            yield prometheus, window


def test_the_load_queries_answer_per_route_and_status(measured: tuple[Prometheus, QueryWindow]) -> None:
    prometheus, window = measured
    answers = frames(prometheus, window)
    assert set(answers) == set(LOAD_QUERIES)
    routes = answers["requests_per_route"]
    assert "/heartbeat" in set(routes["route"])
    assert routes[routes["route"] == "/heartbeat"]["value"].max() > 0
    agents = answers["agents_by_status"]
    assert agents[agents["status"] == "healthy"]["value"].iloc[-1] == POSTS
    assert (answers["p99_seconds"].dropna(subset=["value"])["value"] > 0).any()


def test_a_saved_data_set_reads_back_the_same_frames(
    measured: tuple[Prometheus, QueryWindow], tmp_path: Path
) -> None:
    prometheus, window = measured
    path = save_queries(prometheus, window, tmp_path / "load.json", about={"posts": POSTS})
    saved = SavedQueries(path)
    assert saved.window == window
    assert saved.about == {"posts": POSTS}
    assert saved.queries == dict(LOAD_QUERIES)
    live, offline = frames(prometheus, window), frames(saved, saved.window)
    for name in LOAD_QUERIES:
        pd.testing.assert_frame_equal(offline[name], live[name], check_like=True)


def test_a_saved_data_set_holds_only_its_queries_and_its_window(
    measured: tuple[Prometheus, QueryWindow], tmp_path: Path
) -> None:
    prometheus, window = measured
    saved = SavedQueries(save_queries(prometheus, window, tmp_path / "load.json"))
    with pytest.raises(LabError, match="did not record the query 'up'; it holds: requests_per_route"):
        saved.range_data("up", window.start, window.end, window.step)
    with pytest.raises(LabError, match=r"use the data set's own window \(saved.window\)"):
        frames(saved, QueryWindow(window.start, window.end + 60, window.step))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "found 'list'"),
        ('{"format": "other/1"}', "found 'other/1'"),
    ],
)
def test_a_file_that_is_no_data_set_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(LabError, match=message):
        SavedQueries(path)
    with pytest.raises(LabError, match="no saved data set at"):
        SavedQueries(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (10.0, 5.0, 1.0, "ends"),
        (0.0, 5.0, 0.0, "step must be positive"),
        ("0", 5.0, 1.0, "start must be a number"),
        (0.0, float("nan"), 1.0, "end must be a number"),
        (True, 5.0, 1.0, "start must be a number"),
    ],
)
def test_a_window_that_is_no_window_is_refused(
    start: object, end: object, step: object, message: str
) -> None:
    with pytest.raises(BadParameter, match=message):
        QueryWindow(start, end, step)  # type: ignore[arg-type]


def test_a_saved_file_is_the_apis_own_answers(
    measured: tuple[Prometheus, QueryWindow], tmp_path: Path
) -> None:
    prometheus, window = measured
    document = json.loads(save_queries(prometheus, window, tmp_path / "load.json").read_text())
    first = document["queries"][0]
    assert first["data"] == prometheus.range_data(first["expr"], window.start, window.end, window.step)
    assert first["data"]["resultType"] == "matrix"


def test_count_between_reads_the_raw_counter_exactly(measured: tuple[Prometheus, QueryWindow]) -> None:
    prometheus, window = measured
    queries = over_load_queries(window.end - window.start)
    counter = frames(prometheus, window, queries)["post_requests_by_route_total"]
    started, ended = window.start + 2, window.end - 2  # the fixture's margin
    counted = count_between(counter, started, ended)
    assert counted["/heartbeat"] == POSTS - 1  # the first post came before the load started


def test_the_histogram_quantiles_over_the_load_are_answered(measured: tuple[Prometheus, QueryWindow]) -> None:
    prometheus, window = measured
    answers = frames(prometheus, window, over_load_queries(window.end - window.start))
    p50 = sample_after(answers["server_p50_over_load"], window.end - 2).set_index("route")["value"]
    p99 = sample_after(answers["server_p99_over_load"], window.end - 2).set_index("route")["value"]
    assert 0 < p50["/heartbeat"] <= p99["/heartbeat"] < 10


def frame_of(
    values: list[float], labels: dict[str, str] | None = None, start: float = 1000.0
) -> pd.DataFrame:
    stamps = pd.to_datetime([start + i for i in range(len(values))], unit="s", utc=True)
    return pd.DataFrame({**(labels or {}), "timestamp": stamps, "value": values})


def test_sample_after_takes_each_series_first_sample_at_or_after_the_moment() -> None:
    frame = pd.concat([frame_of([1, 2, 3], {"pod": "a"}), frame_of([10, 20, 30], {"pod": "b"})])
    picked = sample_after(frame, 1001.0).set_index("pod")["value"]
    assert picked.to_dict() == {"a": 2.0, "b": 20.0}
    assert sample_after(frame, 5000.0).empty


def test_count_between_subtracts_the_samples_around_the_interval() -> None:
    counter = frame_of([5, 5, 9, 12, 12], {"route": "/agents"})
    assert count_between(counter, 1001.0, 1003.0).to_dict() == {"/agents": 7.0}
    # a series born during the interval counts from zero
    born = frame_of([3, 4], {"route": "/heartbeat"}, start=1002.0)
    assert count_between(pd.concat([counter, born]), 1001.0, 1003.0)["/heartbeat"] == 4.0


def test_leaderless_seconds_counts_the_steps_at_zero() -> None:
    assert leaderless_seconds(frame_of([1, 1, 0, 0, 0, 1]), step=1) == 3.0
    assert leaderless_seconds(frame_of([]), step=5) == 0.0


@pytest.mark.parametrize("bad", [0, -3, True, "10s"])
def test_over_load_queries_need_a_positive_length(bad: object) -> None:
    with pytest.raises(BadParameter, match="load_seconds must be a positive number of seconds"):
        over_load_queries(bad)  # type: ignore[arg-type]


def test_the_scrape_interval_is_the_manifests() -> None:
    config = yaml.safe_load((MANIFESTS / "monitoring" / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == f"{SCRAPE_SECONDS}s"


def test_a_query_that_matches_nothing_is_an_empty_frame_that_says_so(
    measured: tuple[Prometheus, QueryWindow],
) -> None:
    prometheus, window = measured
    with pytest.warns(NoData, match="missing: no series matched 'mcp_registry_no_such_metric'"):
        answers = frames(prometheus, window, {"missing": "mcp_registry_no_such_metric"})
    assert answers["missing"].empty
    assert "no series matched" in answers["missing"].attrs["no_data"]
