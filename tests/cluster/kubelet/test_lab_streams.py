"""lab.exec and lab.port_forward go through the API server on the kubelet node, with the server-minor
kubectl."""

from __future__ import annotations

import urllib.request

import pytest

from labkit.cluster import LocalCluster
from labkit.cluster.binaries import cached_bin_dir
from labkit.errors import KubectlFailed
from labkit.lab import connect
from tests.cluster.kubelet.conftest import Kubectl, busybox_pod


def test_lab_exec_and_port_forward_on_the_kubelet_node(
    kubelet_cluster: LocalCluster, kubectl20: Kubectl
) -> None:
    serve = "mkdir -p /www && echo through-the-api > /www/index.html && exec httpd -f -p 8080 -h /www"
    kubectl20.apply(busybox_pod("web", serve))
    kubectl20.wait_running("web")
    lab = connect(cluster=kubelet_cluster, namespace=kubectl20.namespace, progress=False)
    assert lab.kubectl_command("version")[0] == str(cached_bin_dir() / "kubectl")
    result = lab.exec("pod/web", ["sh", "-c", "cat; exit 3"], stdin="typed\n", check=False)
    assert (result.returncode, result.stdout) == (3, "typed\n")
    with pytest.raises(KubectlFailed, match="exit 3"):
        lab.exec("web", ["sh", "-c", "exit 3"])
    with pytest.raises(KubectlFailed):
        lab.exec("web", ["true"], container="nope")
    with lab.port_forward("pod/web", 8080) as url, urllib.request.urlopen(url + "/", timeout=10) as response:
        assert response.read() == b"through-the-api\n"
