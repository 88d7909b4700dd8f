"""lab.exec and lab.port_forward go through the API server on the kubelet node, with the server-minor
kubectl."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from labkit.cluster import LocalCluster
from labkit.cluster.binaries import cached_bin_dir
from labkit.errors import KubectlFailed
from labkit.lab import connect
from tests.cluster.kubelet.conftest import Kubectl, busybox_pod


def test_lab_exec_and_port_forward_on_the_kubelet_node(
    local_cluster: LocalCluster, kubectl20: Kubectl
) -> None:
    serve = "mkdir -p /www && echo through-the-api > /www/index.html && exec httpd -f -p 8080 -h /www"
    kubectl20.apply(busybox_pod("web", serve))
    kubectl20.wait_running("web")
    lab = connect(cluster=local_cluster, namespace=kubectl20.namespace, progress=False)
    assert lab.kubectl_command("version")[0] == str(cached_bin_dir() / "kubectl")
    result = lab.exec("pod/web", ["sh", "-c", "cat; exit 3"], stdin="typed\n", check=False)
    assert (result.returncode, result.stdout) == (3, "typed\n")
    with pytest.raises(KubectlFailed, match="exit 3"):
        lab.exec("web", ["sh", "-c", "exit 3"])
    with pytest.raises(KubectlFailed):
        lab.exec("web", ["true"], container="nope")
    with lab.port_forward("pod/web", 8080) as url, urllib.request.urlopen(url + "/", timeout=10) as response:
        assert response.read() == b"through-the-api\n"


def named_web_pod(name: str) -> str:
    """A busybox pod labelled app=web that answers every request with its own name."""
    serve = f"mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www"
    probe = "    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}"
    return busybox_pod(name, serve, probe).replace(f"labels: {{app: {name}}}", "labels: {app: web}")


SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def answered_by(url: str) -> str:
    with urllib.request.urlopen(url + "/", timeout=10) as response:
        return response.read().decode().strip()


def test_lab_port_forward_to_a_service_follows_its_ready_endpoints(
    local_cluster: LocalCluster, kubectl20: Kubectl
) -> None:
    kubectl20.apply(SERVICE + "---" + named_web_pod("web-a") + "---" + named_web_pod("web-b"))
    lab = connect(cluster=local_cluster, namespace=kubectl20.namespace, progress=False)
    lab.wait_for("pod/web-a", "Ready", timeout=90)
    lab.wait_for("pod/web-b", "Ready", timeout=90)

    def endpoint_pods() -> set[str]:
        found = kubectl20.jsonpath("endpoints/web", "{.subsets[*].addresses[*].targetRef.name}")
        return set(found.split())

    kubectl20.wait_for(lambda: endpoint_pods() == {"web-a", "web-b"}, "both pods in the Endpoints")
    with lab.port_forward("svc/web", 80) as url:
        assert {answered_by(url) for _ in range(6)} == {"web-a", "web-b"}, "new connections spread"
        kubectl20.run("delete", "pod", "web-a", "--grace-period=1", "--wait=false")
        kubectl20.wait_for(lambda: endpoint_pods() == {"web-b"}, "web-a out of the Endpoints")
        assert [answered_by(url) for _ in range(6)] == ["web-b"] * 6, "the same URL, the other pod"
    with lab.port_forward("svc/web", "http") as url:
        assert answered_by(url) == "web-b"


def test_lab_port_forward_to_a_closed_port_ends_the_connection(
    local_cluster: LocalCluster, kubectl20: Kubectl
) -> None:
    kubectl20.apply(busybox_pod("quiet", "sleep 3600"))
    kubectl20.wait_running("quiet")
    lab = connect(cluster=local_cluster, namespace=kubectl20.namespace, progress=False)
    with lab.port_forward("pod/quiet", 8080) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(1) == b"", "nothing listens there: the stream ends without an answer"
