"""LocalCluster's lifecycle on a private control plane: up, idempotence, status, crash recovery, pid
reuse, port in use, missing prerequisites, down and wipe. Real etcd and Kubernetes processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster import ClusterError, LocalCluster, MissingPrerequisite, PortInUse
from labkit.cluster.binaries import ensure_binaries
from labkit.cluster.components import CONTROL_PLANE
from labkit.cluster.processes import ProcessRecord, is_alive, process_start_time

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def kubectl(cluster: LocalCluster, *args: str) -> str:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(cluster.kubeconfig_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a socket listening on ``port``, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(state_dir=tmp_path_factory.mktemp("lifecycle") / "state")
    local.up(progress=False, with_node=False, timeout=120)
    yield local
    local.down(wipe=True)


def test_up_runs_every_component_on_loopback_only(cluster: LocalCluster) -> None:
    status = cluster.status()
    assert status.control_plane_alive
    assert cluster.is_running()
    for name in CONTROL_PLANE:
        component = status.component(name)
        assert component.port is not None
        # 0100007F is 127.0.0.1 in /proc/net/tcp's little-endian hex.
        assert listening_addresses(component.port) == {"0100007F"}, name
    assert "running" in status.table()


def test_up_again_changes_nothing(cluster: LocalCluster) -> None:
    before = {c.name: c.pid for c in cluster.status().components}
    info = cluster.up(progress=False, with_node=False)
    assert not info.started
    assert {c.name: c.pid for c in cluster.status().components} == before
    assert info.kubeconfig == cluster.kubeconfig_path


def test_kubeconfig_reaches_the_api_and_home_config_is_untouched(cluster: LocalCluster) -> None:
    home_config = Path.home() / ".kube" / "config"
    before = home_config.stat().st_mtime if home_config.exists() else None
    assert "default" in kubectl(cluster, "get", "namespace", "default", "-o", "name")
    assert "yes" in kubectl(cluster, "auth", "can-i", "create", "statefulsets")
    after = home_config.stat().st_mtime if home_config.exists() else None
    assert after == before


def labkit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    labkit = str(Path(sys.executable).parent / "labkit")
    return subprocess.run([labkit, *args], capture_output=True, text=True, timeout=120, check=False)


def test_cli_up_status_and_kubeconfig(cluster: LocalCluster) -> None:
    state = ["--state-dir", str(cluster.state_dir)]
    up = labkit_cli("cluster", "up", "--without-node", "--quiet", *state)
    assert up.returncode == 0, up.stderr
    assert "already running" in up.stdout
    assert f"export KUBECONFIG={cluster.kubeconfig_path}" in up.stdout
    path = labkit_cli("cluster", "kubeconfig", *state)
    assert path.stdout.strip() == str(cluster.kubeconfig_path)
    status = labkit_cli("cluster", "status", *state)
    assert status.returncode == 0
    assert all(name in status.stdout for name in CONTROL_PLANE)


def test_a_crashed_component_is_detected_and_up_recovers_with_the_data(cluster: LocalCluster) -> None:
    kubectl(cluster, "create", "configmap", "survivor", "--from-literal=k=v")
    apiserver = cluster.status().component("kube-apiserver")
    assert apiserver.pid is not None
    os.kill(apiserver.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while cluster.status().component("kube-apiserver").alive and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not cluster.status().component("kube-apiserver").alive
    assert not cluster.is_running()

    info = cluster.up(progress=False, with_node=False, timeout=120)
    assert info.started
    assert any("kube-apiserver" in message for message in info.recovered)
    assert cluster.is_running()
    assert cluster.status().component("kube-apiserver").pid != apiserver.pid
    assert kubectl(cluster, "get", "configmap", "survivor", "-o", "jsonpath={.data.k}") == "v"


def test_ports_taken_while_down_are_replaced_and_the_data_is_kept(cluster: LocalCluster) -> None:
    kubectl(cluster, "create", "configmap", "moved", "--from-literal=k=v")
    old = cluster.status()
    cluster.down()
    taken = []
    try:
        for name in ("etcd", "kube-apiserver"):
            port = old.component(name).port
            assert port is not None
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
            taken.append(sock)
        cluster.up(progress=False, with_node=False, timeout=120)
    finally:
        for sock in taken:
            sock.close()
    new = cluster.status()
    assert new.component("kube-apiserver").port != old.component("kube-apiserver").port
    assert new.server is not None
    assert new.server in cluster.kubeconfig_path.read_text()
    assert kubectl(cluster, "get", "configmap", "moved", "-o", "jsonpath={.data.k}") == "v"


def test_down_stops_exactly_the_recorded_processes_and_never_a_stranger(cluster: LocalCluster) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        pids = {c.name: c.pid for c in cluster.status().components if c.pid}
        stopped = cluster.down()
        assert set(stopped) == set(CONTROL_PLANE)
        for pid in pids.values():
            assert process_start_time(pid) is None
        # A crash left pid files whose pids now belong to another program (same pid, other start time).
        start_time = process_start_time(stranger.pid)
        assert start_time is not None
        for name in CONTROL_PLANE:
            record = ProcessRecord(pid=stranger.pid, start_time=start_time + 1)
            cluster.layout.pid_file(name).write_text(record.to_json())
        assert not cluster.status().control_plane_alive
        assert cluster.down() == []
        assert is_alive(ProcessRecord(stranger.pid, start_time)), "down signalled a foreign process"
        for name in CONTROL_PLANE:
            cluster.layout.pid_file(name).write_text(record.to_json())
        info = cluster.up(progress=False, with_node=False, timeout=120)
        assert info.started
        assert len(info.recovered) == len(CONTROL_PLANE)
        assert cluster.is_running()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_requested_port_in_use_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        local = LocalCluster(state_dir=tmp_path / "state", api_port=port)
        with pytest.raises(PortInUse, match=rf"kube-apiserver port {port} .* in use"):
            local.up(progress=False, with_node=False)
    assert not any(component.alive for component in local.status().components)
    assert not any(component.pid for component in local.status().components)


def test_missing_prerequisite_is_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    monkeypatch.delenv("LABKIT_BIN_DIR", raising=False)
    local = LocalCluster(state_dir=tmp_path / "state")
    with pytest.raises(MissingPrerequisite, match=r"`apt-get` is missing: .*LABKIT_BIN_DIR"):
        local.up(progress=False, with_node=False)
    assert not any(component.pid for component in local.status().components)


def test_bad_api_port_type_is_rejected() -> None:
    with pytest.raises(ClusterError, match="api_port must be an integer"):
        LocalCluster(api_port="6443")  # type: ignore[arg-type]


def test_cli_down_wipe_stops_everything_and_removes_the_state(cluster: LocalCluster) -> None:
    pids = [c.pid for c in cluster.status().components if c.pid]
    assert pids
    down = labkit_cli("cluster", "down", "--wipe", "--state-dir", str(cluster.state_dir))
    assert down.returncode == 0, down.stderr
    assert "stopped: " in down.stdout
    assert not cluster.state_dir.exists()
    assert labkit_cli("cluster", "status", "--state-dir", str(cluster.state_dir)).returncode == 3
    assert all(process_start_time(pid) is None for pid in pids)


def test_down_of_a_cluster_that_never_existed_creates_nothing(tmp_path: Path) -> None:
    local = LocalCluster(state_dir=tmp_path / "never")
    assert local.down() == []
    assert local.down(wipe=True) == []
    assert not local.state_dir.exists()


def test_a_component_that_dies_at_start_is_reported_and_nothing_is_left_running(tmp_path: Path) -> None:
    real = LocalCluster(state_dir=tmp_path / "unused")
    binaries = tmp_path / "bin"
    binaries.mkdir()
    for name in ("etcd", "kube-controller-manager", "kube-scheduler"):
        (binaries / name).symlink_to(cached_or_found(real, name))
    broken = binaries / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'error: flag provided but not defined: --broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    local = LocalCluster(state_dir=tmp_path / "state", bin_dir=binaries)
    try:
        with pytest.raises(
            ClusterError, match=r"kube-apiserver exited; see .*kube-apiserver\.log: .*--broken"
        ):
            local.up(progress=False, with_node=False, timeout=60)
        assert not any(component.alive for component in local.status().components)
        assert not any(component.pid for component in local.status().components)
    finally:
        local.down(wipe=True)  # frees its loopback address block at once


def cached_or_found(cluster: LocalCluster, name: str) -> Path:
    return ensure_binaries(cluster.bin_dir, progress=False)[name].path
