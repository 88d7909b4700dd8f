"""labkit: the helper package the lab's notebooks call, its CLI, and the local cluster.

import labkit as lk
lab = lk.connect(cluster="local", namespace="mcp-mesh")
lab.apply("registry-statefulset-dev.yaml")
lab.wait_rollout("statefulset/mcp-mesh-registry")
with lab.port_forward("svc/mcp-mesh-registry", 8000) as url:
    lk.check(lk.RegistryClient(url).health()["status"] == "healthy", "the registry is healthy")
"""

from labkit import agents, monitoring, query_sets
from labkit.checks import check, expect_failure, show
from labkit.errors import (
    BadParameter,
    CheckFailed,
    ClusterUnavailable,
    KubectlFailed,
    LabError,
    ManifestError,
    NamespaceMissing,
    ObjectNotFound,
    RegistryError,
    RegistryUnavailable,
    WaitTimeout,
)
from labkit.exercises import exercise
from labkit.kubectl_forward import kubectl_port_forward
from labkit.lab import Lab, connect
from labkit.load import LoadResult, load_test, sustained_load
from labkit.metrics import parse_metrics, plot_metrics, sample_metrics, scrape_metrics, select_metric
from labkit.paths import MANIFESTS, NOTEBOOKS, kubectl_path
from labkit.prometheus import NoData, Prometheus, PrometheusError, PrometheusUnavailable
from labkit.records import RECORD_MIME, read_records, record
from labkit.registry_client import RegistryClient
from labkit.setups import setup_dev_registry
from labkit.terminal_steps import try_in_terminal, try_port_forward_in_terminal
from labkit.waiting import sleep

__version__ = "0.1.0"

__all__ = [
    "MANIFESTS",
    "NOTEBOOKS",
    "RECORD_MIME",
    "BadParameter",
    "CheckFailed",
    "ClusterUnavailable",
    "KubectlFailed",
    "Lab",
    "LabError",
    "LoadResult",
    "ManifestError",
    "NamespaceMissing",
    "NoData",
    "ObjectNotFound",
    "Prometheus",
    "PrometheusError",
    "PrometheusUnavailable",
    "RegistryClient",
    "RegistryError",
    "RegistryUnavailable",
    "WaitTimeout",
    "agents",
    "check",
    "connect",
    "exercise",
    "expect_failure",
    "kubectl_path",
    "kubectl_port_forward",
    "load_test",
    "monitoring",
    "parse_metrics",
    "plot_metrics",
    "query_sets",
    "read_records",
    "record",
    "sample_metrics",
    "scrape_metrics",
    "select_metric",
    "setup_dev_registry",
    "show",
    "sleep",
    "sustained_load",
    "try_in_terminal",
    "try_port_forward_in_terminal",
]
