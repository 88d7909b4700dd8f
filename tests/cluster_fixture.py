"""pytest plugin: the session fixture ``local_cluster``, the local Kubernetes cluster brought up once.

The binaries are built (when missing) before the first test runs, outside every test's timeout, since a
cold build takes minutes. The cluster then starts once per session in the default state dir (or
``LABKIT_TEST_CLUSTER_STATE``). A cluster that was already running before the session is left running;
one the session started is stopped (not wiped) at its end. Tests using the fixture get the ``cluster``
marker automatically.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from labkit.cluster import LocalCluster
from labkit.cluster.binaries import ensure_binaries

STATE_VARIABLE = "LABKIT_TEST_CLUSTER_STATE"
UP_TIMEOUT = 300.0


def _uses_cluster(item: pytest.Item) -> bool:
    return "local_cluster" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use the cluster (before ``-m`` selects), so ``-m cluster`` finds them."""
    for item in items:
        if _uses_cluster(item):
            item.add_marker(pytest.mark.cluster)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries now, outside every test's timeout, when a selected test needs the cluster."""
    if session.config.getoption("collectonly"):
        return
    if any(_uses_cluster(item) for item in session.items):
        ensure_binaries(progress=True)


def _node_agent_available() -> bool:
    return importlib.util.find_spec("labkit.cluster.node.__main__") is not None


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """The running local cluster (with its node agent when this checkout has one)."""
    cluster = LocalCluster(state_dir=os.environ.get(STATE_VARIABLE) or None)
    was_running = cluster.is_running()
    cluster.up(progress=False, with_node=_node_agent_available(), timeout=UP_TIMEOUT)
    yield cluster
    if not was_running:
        cluster.down()
