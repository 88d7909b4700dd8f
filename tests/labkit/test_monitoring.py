"""Prometheus from manifests/monitoring on the real local cluster: it becomes ready, discovers the
registry pods through the API server, counts a bounded load exactly, and follows a scale up and down.

One module-scoped namespace with the guide's dev registry and Prometheus, deleted at the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import labkit as lk
from labkit.monitoring import SCRAPE_JOB, deploy_prometheus, prometheus, remove_prometheus
from labkit.paths import MANIFESTS
from tests.cluster_fixture import lab_in_own_namespace

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

NAMESPACE = f"labkit-monitoring-{os.getpid()}"
REGISTRY = "statefulset/mcp-mesh-registry"
REGISTRATIONS = (
    'sum(mcp_registry_requests_total{job="mcp-registry", method="POST", route="/agents"}) or vector(0)'
)


def scrape_interval() -> float:
    """The configured interval, in seconds (the file says e.g. ``5s``)."""
    config = yaml.safe_load((MANIFESTS / "monitoring" / "prometheus.yml").read_text())
    return float(str(config["global"]["scrape_interval"]).removesuffix("s"))


@pytest.fixture(scope="module")
def lab(local_cluster: Any) -> Iterator[lk.Lab]:
    with lab_in_own_namespace(local_cluster, NAMESPACE) as lab:
        yield lab


@pytest.fixture(scope="module")
def server(lab: lk.Lab) -> Iterator[lk.Prometheus]:
    """The dev registry, then Prometheus rolled out beside it, reached through a port-forward."""
    lk.setup_dev_registry(lab, timeout=240)
    deploy_prometheus(lab, timeout=240)
    with prometheus(lab) as server:
        yield server


def registrations(server: lk.Prometheus) -> float:
    return float(server.query(REGISTRATIONS)["value"].sum())


def test_prometheus_is_ready_and_lists_every_registry_pod_up_within_two_scrape_intervals(
    lab: lk.Lab, server: lk.Prometheus
) -> None:
    deployment = lab.get("deployment/prometheus")
    assert deployment["status"]["readyReplicas"] == 1
    targets = server.wait_for_targets(SCRAPE_JOB, count=1, timeout=2 * scrape_interval(), progress=False)
    pods = lab.pods("app.kubernetes.io/name=mcp-mesh-registry")
    assert sorted(label["pod"] for label in targets["labels"]) == sorted(pods["name"])
    assert set(targets["health"]) == {"up"}
    assert all(label["namespace"] == NAMESPACE for label in targets["labels"])
    # What the server itself says about the scrape: the registry's own series are there.
    assert "mcp_registry_request_duration_seconds_bucket" in server.metric_names()


def test_a_bounded_load_is_counted_exactly_within_one_scrape_interval(
    lab: lk.Lab, server: lk.Prometheus
) -> None:
    server.wait_for_targets(SCRAPE_JOB, count=1, timeout=60, progress=False)
    before = registrations(server)
    sent = 60
    with lab.port_forward("svc/mcp-mesh-registry", 8000) as url:
        result = lk.load_test(url, n=sent, concurrency=6, kind="register", progress=False)
    assert result.summary["success_rate"] == 1.0, result.df["error"].dropna().head().tolist()
    deadline = time.monotonic() + scrape_interval() + 4  # one interval, plus the scrape's own timeout
    counted = registrations(server)
    while counted != before + sent and time.monotonic() < deadline:
        time.sleep(0.5)
        counted = registrations(server)
    assert counted == before + sent, f"Prometheus counted {counted - before:g} of the {sent} sent"


def test_scaling_the_statefulset_adds_and_removes_targets(lab: lk.Lab, server: lk.Prometheus) -> None:
    # With leader election on SQLite only the leader is ready: a follower is still scraped (Prometheus
    # discovers pods, ready or not, and the metrics port answers on every replica).
    lab.scale(REGISTRY, 2)
    try:
        two = server.wait_for_targets(SCRAPE_JOB, count=2, timeout=180, progress=False)
        pods = sorted(label["pod"] for label in two["labels"])
        assert pods == ["mcp-mesh-registry-0", "mcp-mesh-registry-1"]
    finally:
        lab.scale(REGISTRY, 1)
    lab.wait_rollout(REGISTRY, timeout=240, progress=False)
    deadline = time.monotonic() + 60
    while len(server.targets(SCRAPE_JOB)) != 1 and time.monotonic() < deadline:
        time.sleep(1)
    remaining = server.targets(SCRAPE_JOB)
    assert [label["pod"] for label in remaining["labels"]] == ["mcp-mesh-registry-0"]


def test_a_query_for_a_metric_that_does_not_exist_names_it(server: lk.Prometheus) -> None:
    with pytest.warns(lk.NoData, match="no metric named mcp_registry_agent_total"):
        frame = server.query("mcp_registry_agent_total")
    assert frame.empty


def test_removing_prometheus_leaves_the_registry(lab: lk.Lab, server: lk.Prometheus) -> None:
    remove_prometheus(lab)
    assert not lab.exists("deployment/prometheus")
    assert not lab.exists("role/prometheus-discovery")
    assert lab.exists(REGISTRY)
