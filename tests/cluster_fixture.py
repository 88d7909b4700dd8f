"""pytest plugin: the session fixture ``local_cluster``, the local Kubernetes cluster with its kubelet
node, brought up once per test session.

The control plane's and the node's binaries, the node's Debian packages and the images are built (when
missing) before the first test runs, outside every test's timeout, since a cold build takes minutes. The
cluster then starts once per session in the default state dir (or ``LABKIT_TEST_CLUSTER_STATE``). A
cluster that was already running before the session is left running; one the session started is stopped
(not wiped) at its end. Tests using the fixture get the ``cluster`` marker automatically.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

import labkit as lk
from labkit.cluster import LocalCluster
from labkit.cluster.binaries import COMPONENTS, NODE_COMPONENTS, ensure_binaries
from labkit.cluster.images.catalog import IMAGES, ensure_image
from labkit.cluster.kubelet.tools import ensure_node_tools

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
    """Build what the cluster needs now, outside every test's timeout, when a selected test uses it."""
    if session.config.getoption("collectonly"):
        return
    if any(_uses_cluster(item) for item in session.items):
        ensure_binaries(progress=True, names=COMPONENTS + NODE_COMPONENTS)
        tools = ensure_node_tools()
        for recipe in IMAGES:
            ensure_image(recipe, tools)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """The running local cluster with its kubelet node; stopped at the end when this session started it."""
    cluster = LocalCluster(state_dir=os.environ.get(STATE_VARIABLE) or None)
    was_running = cluster.is_running()
    cluster.up(progress=False, timeout=UP_TIMEOUT)
    yield cluster
    if not was_running:
        cluster.down()


@contextlib.contextmanager
def lab_in_own_namespace(cluster: LocalCluster, namespace: str) -> Iterator[lk.Lab]:
    """A Lab on the local cluster in a namespace of its own, deleted (without waiting) afterwards."""
    lab = lk.connect(cluster, namespace=namespace, progress=False)
    lab.ensure_namespace()
    try:
        yield lab
    finally:
        lab.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, wait=False)
