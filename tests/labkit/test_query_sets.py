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

from labkit.errors import BadParameter, LabError
from labkit.prometheus import Prometheus
from labkit.query_sets import LOAD_QUERIES, QueryWindow, SavedQueries, frames, save_queries
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
