"""Prometheus in the lab's namespace: ``manifests/monitoring`` applied, rolled out, and reached.

The server discovers the registry pods through the Kubernetes API itself; the lab only deploys it and
forwards a local port to its Service, so a lesson queries the same Prometheus an operator would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pandas as pd

from labkit.lab import Lab
from labkit.prometheus import Prometheus

MONITORING = "monitoring"  # manifests/monitoring: the Kustomization of Prometheus and its rules
PROMETHEUS_DEPLOYMENT = "deployment/prometheus"
PROMETHEUS_SERVICE = "svc/prometheus"
SCRAPE_JOB = "mcp-registry"  # the job of manifests/monitoring/prometheus.yml, which the rules read


def deploy_prometheus(lab: Lab, timeout: float = 180) -> list[str]:
    """Apply Prometheus, its RBAC and configuration in the lab's namespace; wait until it is ready."""
    applied = lab.apply(MONITORING, namespace=lab.namespace)
    lab.wait_rollout(PROMETHEUS_DEPLOYMENT, timeout=timeout)
    return applied


@contextlib.contextmanager
def prometheus(lab: Lab) -> Iterator[Prometheus]:
    """The lab's Prometheus through a port-forward to its Service, for as long as the block runs."""
    with lab.port_forward(PROMETHEUS_SERVICE, "web") as url:
        yield Prometheus(url)


def remove_prometheus(lab: Lab) -> None:
    """Delete what deploy_prometheus applied (the registry and its data stay)."""
    lab.delete(MONITORING, namespace=lab.namespace)


def wait_for_scrape_after(
    server: Prometheus, moment: float, job: str = SCRAPE_JOB, timeout: float = 60, *, progress: bool = True
) -> pd.DataFrame:
    """Wait until Prometheus has scraped every target of ``job`` after ``moment`` (epoch seconds).

    What a range query then reads covers everything that happened before ``moment``. On timeout the error
    names each target that is not up and why.
    """
    after = pd.Timestamp(moment, unit="s", tz="UTC")

    def scraped(frame: pd.DataFrame) -> bool:
        fresh = (frame["health"] == "up") & (frame["last_scrape"] >= after)
        return not frame.empty and bool(fresh.all())

    what = f"a scrape of job {job!r} after {after:%H:%M:%S}"
    return server.wait_until_targets(job, scraped, what, timeout, progress=progress)
