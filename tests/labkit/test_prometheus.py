"""labkit.prometheus against a real Prometheus server (Debian's binary, on loopback) scraping a real
registry process every second, with the registry's alerting and recording rules loaded."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pandas as pd
import pytest

import labkit as lk
from tests.processes import RunningProcess, free_port, run_registry
from tests.prometheus_server import run_prometheus
from tests.prometheus_tools import require_tool

pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::labkit.prometheus.NoData")]

RULES = lk.MANIFESTS / "monitoring" / "registry-rules.yml"
JOB = "mcp-registry"
DOWN_JOB = "nothing-listens"
AGENTS = 3
T = TypeVar("T")


@dataclass
class Scraped:
    """A registry, the Prometheus scraping it, and labkit's client of that Prometheus."""

    registry: RunningProcess
    server: RunningProcess
    prometheus: lk.Prometheus
    down_target: str


def eventually(fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 60.0) -> T:
    """Fetch until done(result) (Prometheus scrapes every second); fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            assert done(result), f"{what}: last result {result!r}"
            return result
        time.sleep(0.5)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    require_tool("prometheus")
    with run_registry(tmp_path_factory.mktemp("registry")) as registry:
        with httpx.Client(base_url=registry.url) as client:
            for index in range(AGENTS):
                body = {"agent_id": f"agent-{index}", "tools": []}
                assert client.post("/heartbeat", json=body).status_code == 200
        down_target = f"127.0.0.1:{free_port()}"
        jobs = {JOB: [f"127.0.0.1:{registry.env['METRICS_PORT']}"], DOWN_JOB: [down_target]}
        workdir = tmp_path_factory.mktemp("prometheus")
        with run_prometheus(workdir, jobs, rule_files=[RULES]) as server:
            yield Scraped(registry, server, lk.Prometheus(server.url), down_target)


def test_wait_for_targets_answers_the_registry_target_up(scraped: Scraped) -> None:
    targets = scraped.prometheus.wait_for_targets(job=JOB, count=1, timeout=60)
    assert targets["health"].tolist() == ["up"]
    assert targets["instance"].tolist() == [f"127.0.0.1:{scraped.registry.env['METRICS_PORT']}"]
    assert targets["last_error"].tolist() == [""]


def test_a_target_that_stays_down_is_named_with_prometheus_last_error(scraped: Scraped) -> None:
    with pytest.raises(lk.WaitTimeout) as caught:
        scraped.prometheus.wait_for_targets(job=DOWN_JOB, timeout=5, progress=False)
    message = str(caught.value)
    assert f"{DOWN_JOB} {scraped.down_target}" in message
    assert "connection refused" in message or "not scraped yet" in message


def test_an_instant_query_is_a_row_per_series_with_a_column_per_label(scraped: Scraped) -> None:
    frame = eventually(
        lambda: scraped.prometheus.query(f'mcp_registry_agents{{job="{JOB}"}}'),
        lambda f: len(f) == 2,
        "both statuses of mcp_registry_agents scraped",
    )
    assert list(frame.columns) == ["instance", "job", "name", "status", "timestamp", "value"]
    assert frame.set_index("status")["value"].to_dict() == {"healthy": AGENTS, "unhealthy": 0}
    assert set(frame["name"]) == {"mcp_registry_agents"}
    assert (pd.Timestamp.now(tz="UTC") - frame["timestamp"]).max() < pd.Timedelta(minutes=5)


def test_the_guides_untyped_name_is_queryable_too(scraped: Scraped) -> None:
    frame = eventually(
        lambda: scraped.prometheus.query('mcp_registry_agents_total{status="healthy"}'),
        lambda f: len(f) == 1,
        "mcp_registry_agents_total scraped",
    )
    assert frame["value"].tolist() == [AGENTS]


def test_a_range_query_is_a_row_per_sample(scraped: Scraped) -> None:
    start = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=30)
    query = f'mcp_registry_requests_total{{job="{JOB}", route="/heartbeat"}}'
    frame = eventually(
        lambda: scraped.prometheus.query_range(query, start=start, step="1s"),
        lambda f: len(f) >= 3,
        "three samples of the POST /heartbeat counter",
    )
    assert {"method", "route", "status", "timestamp", "value"} <= set(frame.columns)
    ok = frame[frame["status"] == "200"].sort_values("timestamp")
    assert ok["timestamp"].diff().dropna().dt.total_seconds().eq(1.0).all(), "one row per step"
    assert ok["value"].eq(AGENTS).all(), "the counter holds the registrations"


def test_histogram_quantile_on_the_registrys_histogram(scraped: Scraped) -> None:
    query = (
        "histogram_quantile(0.5, sum by (le) "
        f'(mcp_registry_request_duration_seconds_bucket{{job="{JOB}", route="/heartbeat"}}))'
    )
    frame = eventually(lambda: scraped.prometheus.query(query), lambda f: len(f) == 1, "a median")
    assert 0 < frame["value"].iloc[0] < 10


def test_malformed_promql_passes_prometheus_error_text_on(scraped: Scraped) -> None:
    with pytest.raises(
        lk.PrometheusError, match=r"rejected the query 'sum\(rate\(up\[5m\]\)': bad_data"
    ) as caught:
        scraped.prometheus.query("sum(rate(up[5m])")
    assert "parse error" in caught.value.error
    assert caught.value.error_type == "bad_data"


def test_a_metric_that_does_not_exist_is_an_empty_frame_that_says_so(scraped: Scraped) -> None:
    eventually(lambda: scraped.prometheus.metric_names(), lambda n: "mcp_registry_leader" in n, "names")
    with pytest.warns(
        lk.NoData, match=r"no metric named mcp_registry_nope \(names alike: mcp_registry_"
    ) as warned:
        frame = scraped.prometheus.query('rate(mcp_registry_nope{status="x"}[1m])')
    assert frame.empty
    assert list(frame.columns) == ["timestamp", "value"]
    assert frame.attrs["no_data"] == str(warned[0].message)
    with pytest.warns(lk.NoData, match="no series matched"):
        assert scraped.prometheus.query_range('up{job="nobody"}', start=time.time() - 10).empty


def test_nothing_listening_is_prometheus_unavailable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(lk.PrometheusUnavailable, match=f"cannot reach Prometheus at {url}"):
        lk.Prometheus(url).query("up")


def test_a_server_that_is_not_prometheus_is_named(scraped: Scraped) -> None:
    with pytest.raises(
        lk.PrometheusError, match=r"HTTP 404 .*is http://127\.0\.0\.1:\d+ a Prometheus server"
    ):
        lk.Prometheus(scraped.registry.url).query("up")


def test_the_registry_rules_evaluate_on_the_live_scrape(scraped: Scraped) -> None:
    agents = eventually(
        lambda: scraped.prometheus.query("mcp_registry:agents:leader"),
        lambda f: len(f) == 2,
        "the leader's agents recorded",
    )
    assert agents.set_index("status")["value"].to_dict() == {"healthy": AGENTS, "unhealthy": 0}
    with pytest.warns(lk.NoData):
        leaders = scraped.prometheus.query("mcp_registry:leaders:sum")
    assert leaders.empty, "election off: every replica leads by design, none is counted"
    groups = httpx.get(scraped.server.url + "/api/v1/rules").json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 13
    assert {rule["health"] for rule in rules} == {"ok"}, [r.get("lastError") for r in rules]
    firing = scraped.prometheus.query('ALERTS{alertstate="firing"}', at=time.time())
    assert firing.empty or "McpRegistryNoLeader" not in set(firing["alertname"])
