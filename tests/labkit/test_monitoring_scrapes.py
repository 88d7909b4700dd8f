"""labkit.monitoring's wait for a scrape, against a real Prometheus scraping a real registry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import labkit as lk
from labkit.monitoring import SCRAPE_JOB, wait_for_scrape_after
from labkit.prometheus import Prometheus
from tests.processes import free_port, run_registry
from tests.prometheus_server import run_prometheus
from tests.prometheus_tools import require_tool

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus scraping one registry each second, and one target that nothing listens on."""
    require_tool("prometheus")
    with run_registry(tmp_path_factory.mktemp("registry")) as registry:
        jobs = {
            SCRAPE_JOB: [f"127.0.0.1:{registry.env['METRICS_PORT']}"],
            "nothing-there": [f"127.0.0.1:{free_port()}"],
        }
        with run_prometheus(tmp_path_factory.mktemp("prometheus"), jobs) as process:
            prometheus = Prometheus(process.url)
            prometheus.wait_for_targets(SCRAPE_JOB, timeout=60, progress=False)
            yield prometheus


def test_it_returns_once_every_target_was_scraped_after_the_moment(server: Prometheus) -> None:
    moment = time.time()
    targets = wait_for_scrape_after(server, moment, timeout=10, progress=False)
    assert list(targets["job"]) == [SCRAPE_JOB]
    assert (targets["last_scrape"] >= pd.Timestamp(moment, unit="s", tz="UTC")).all()


def test_a_target_that_is_down_is_named_with_its_error(server: Prometheus) -> None:
    with pytest.raises(lk.WaitTimeout, match=r"0/1 up.*nothing-there .* down: .*connection refused"):
        wait_for_scrape_after(server, time.time(), job="nothing-there", timeout=4, progress=False)


def test_a_job_with_no_target_says_so(server: Prometheus) -> None:
    with pytest.raises(lk.WaitTimeout, match="no target discovered yet"):
        wait_for_scrape_after(server, time.time(), job="no-such-job", timeout=2, progress=False)


def test_a_bad_timeout_is_refused(server: Prometheus, tmp_path: Path) -> None:
    with pytest.raises(lk.BadParameter, match="timeout"):
        wait_for_scrape_after(server, time.time(), timeout=-1, progress=False)
