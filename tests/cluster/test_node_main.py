"""Unit tests: the agent's command line refuses bad input with one clear line, and pod spec checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labkit.cluster.node.context import default_hosts
from labkit.cluster.node.envvars import ConfigError
from labkit.cluster.node.node import machine_capacity, node_status
from labkit.cluster.node.pod_worker import process_identity, unsupported_features


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "labkit.cluster.node", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_missing_kubeconfig_exits_2_naming_it(tmp_path: Path) -> None:
    done = run_agent("--kubeconfig", str(tmp_path / "nope"), "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == f"node agent: --kubeconfig {tmp_path / 'nope'}: no such file"


def test_bad_backoff_exits_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    done = run_agent("--kubeconfig", str(kubeconfig), "--state-dir", str(tmp_path), "--backoff-base", "0")
    assert done.returncode == 2
    assert "--backoff-base 0.0: must be a positive number of seconds" in done.stderr


def test_unsupported_pod_features_are_named() -> None:
    pod = {
        "spec": {
            "hostNetwork": True,
            "containers": [
                {
                    "name": "main",
                    "securityContext": {"privileged": True},
                    "livenessProbe": {"grpc": {"port": 1}},
                }
            ],
        }
    }
    problems = unsupported_features(pod)
    assert "hostNetwork: true" in problems
    assert "privileged container main" in problems
    assert any(p.startswith("livenessProbe of container main") for p in problems)
    assert unsupported_features({"spec": {"containers": [{"name": "ok", "image": "busybox"}]}}) == []


def test_pod_hosts_file_names_the_pod() -> None:
    pod = {
        "metadata": {"name": "web-0", "namespace": "lab"},
        "spec": {"hostname": "web-0", "subdomain": "web"},
    }
    hosts = default_hosts(pod, "127.244.0.7")
    assert "127.0.0.1\tlocalhost" in hosts
    assert "127.244.0.7\tweb-0.web.lab.svc.cluster.local web-0\n" in hosts


def test_host_aliases_are_added() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "lab"},
        "spec": {"hostAliases": [{"ip": "127.0.0.9", "hostnames": ["db.example", "db"]}]},
    }
    assert "127.0.0.9\tdb.example db\n" in default_hosts(pod, "127.244.0.7")


def test_process_identity_from_security_contexts() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "lab"},
        "spec": {"securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000]}},
    }
    assert process_identity(pod, {"name": "main"}) == {"uid": 1000, "gid": 0, "groups": [3000, 2000]}
    own = {"name": "main", "securityContext": {"runAsUser": 7, "runAsGroup": 8}}
    assert process_identity(pod, own) == {"uid": 7, "gid": 8, "groups": [3000, 2000]}
    assert process_identity({"metadata": pod["metadata"], "spec": {}}, {"name": "main"}) == {}
    refused = {"name": "main", "securityContext": {"runAsNonRoot": True}}
    with pytest.raises(ConfigError, match="runAsNonRoot and image will run as root"):
        process_identity({"metadata": pod["metadata"], "spec": {}}, refused)


def test_node_status_reports_a_ready_node_with_machine_capacity(tmp_path: Path) -> None:
    capacity = machine_capacity(tmp_path)
    assert int(capacity["cpu"]) >= 1
    assert capacity["memory"].endswith("Ki")
    status = node_status("labkit-node", "127.0.0.1", 10250, capacity, since="2026-01-01T00:00:00Z")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert ready["lastHeartbeatTime"] != ready["lastTransitionTime"]
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": "labkit-node"},
    ]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
