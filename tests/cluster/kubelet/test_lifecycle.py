"""``up`` is idempotent and ``down`` stops everything the kubelet node started, containers included,
and undoes its network, mounts and cgroups; a second kubelet cluster on the machine never collides."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster import ClusterError, LocalCluster
from labkit.cluster.kubelet import cleanup
from labkit.cluster.kubelet.components import cgroup_root
from labkit.cluster.kubelet.node import HELPERS
from labkit.cluster.processes import is_alive, read_record
from tests.cluster.kubelet.conftest import UP_TIMEOUT, Kubectl, busybox_pod, kubectl_binary


@pytest.fixture
def short_state_dir() -> Iterator[Path]:
    """A state dir short enough for containerd's socket path."""
    folder = Path(tempfile.mkdtemp(prefix="lk-", dir="/tmp"))
    yield folder / "c"
    shutil.rmtree(folder, ignore_errors=True)


def test_up_is_idempotent_and_down_stops_everything(
    local_cluster: LocalCluster, short_state_dir: Path
) -> None:
    cluster = LocalCluster(state_dir=short_state_dir)
    try:
        first = cluster.up(progress=False, timeout=UP_TIMEOUT)
        assert first.started
        node = cluster.kubelet_node()
        assert node.network.index != local_cluster.kubelet_node().network.index
        kubectl = Kubectl(kubectl_binary("v1.20"), cluster.kubeconfig_path, "default")
        kubectl.apply(busybox_pod("sleeper", "sleep 3600"))
        kubectl.wait_running("sleeper")
        second = cluster.up(progress=False, timeout=UP_TIMEOUT)
        assert not second.started
        kubelet = read_record(cluster.layout.pid_file("node"))
        assert kubelet is not None
        cluster.layout.node_code_file.write_text("code-of-an-older-checkout")
        third = cluster.up(progress=False, timeout=UP_TIMEOUT)
        assert third.started
        assert any("code changed" in message for message in third.recovered)
        assert not is_alive(kubelet), "the kubelet started with outdated node code was stopped"
        records = [read_record(node.pid_file(name)) for name in HELPERS]
        records.append(read_record(cluster.layout.pid_file("node")))
        assert all(record is not None and is_alive(record) for record in records)
        kubectl.wait_running("sleeper")
        assert cleanup.cgroup_pids(cgroup_root(node.network))  # containerd, shims and the pod
    finally:
        stopped = cluster.down()
    assert "node" in stopped
    assert not any(record is not None and is_alive(record) for record in records)
    assert not cleanup.cgroup_pids(cgroup_root(node.network))
    assert not node.network.namespace_path.exists()
    assert subprocess.run(["ip", "link", "show", node.network.host_link], capture_output=True).returncode != 0
    assert cleanup.mounts_below(node.layout.root) == []
    assert local_cluster.is_running()  # the other kubelet cluster is untouched


def test_a_state_dir_of_the_retired_node_agent_is_refused(short_state_dir: Path) -> None:
    (short_state_dir / "etcd").mkdir(parents=True)
    (short_state_dir / "cluster.json").write_text('{"node": "agent"}')
    cluster = LocalCluster(state_dir=short_state_dir)
    with pytest.raises(ClusterError, match=r"older kit's node 'agent'.*`labkit cluster down --wipe`"):
        cluster.up(progress=False)
    assert not any(component.pid for component in cluster.status().components), "nothing started"
