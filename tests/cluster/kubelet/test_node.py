"""The real node: registered by a v1.20.2 kubelet on containerd, in its own network namespace, and
closed to callers the API server has not authenticated."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from labkit.cluster import LocalCluster
from labkit.cluster.addons import api_client
from labkit.cluster.kubelet.components import KUBELET_PORT
from tests.cluster.kubelet.conftest import Kubectl, busybox_pod


def _node(cluster: LocalCluster) -> client.V1Node:
    return client.CoreV1Api(api_client(cluster.kubeconfig_path)).read_node(cluster.node_name)


def _internal_ip(cluster: LocalCluster) -> str:
    addresses = _node(cluster).status.addresses
    return next(address.address for address in addresses if address.type == "InternalIP")


def test_node_is_a_real_kubelet_on_containerd(local_cluster: LocalCluster) -> None:
    info = _node(local_cluster).status.node_info
    assert info.kubelet_version == "v1.20.2"
    assert info.kube_proxy_version == "v1.20.2"
    assert info.container_runtime_version.startswith("containerd://1.6.")
    assert _internal_ip(local_cluster).startswith("198.18.")


def _kubelet_get(url: str, context: ssl.SSLContext) -> int:
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize("path", ["/pods", "/run/default/x/y", "/exec/default/x/y?command=id", "/metrics"])
def test_kubelet_port_refuses_requests_without_credentials(local_cluster: LocalCluster, path: str) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://{_internal_ip(local_cluster)}:{KUBELET_PORT}{path}"
    assert _kubelet_get(url, context) == 401


def test_kubelet_port_accepts_the_apiserver_identity(local_cluster: LocalCluster) -> None:
    """The same request with a client certificate the kubelet's webhook authorises succeeds, so the 401
    above is authentication at work, not a closed port."""
    pki = local_cluster.layout.pki
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    stem = "apiserver-kubelet-client"
    context.load_cert_chain(pki.client_cert(stem), pki.client_key(stem))
    url = f"https://{_internal_ip(local_cluster)}:{KUBELET_PORT}/pods"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["kind"] == "PodList"


def test_pod_gets_an_address_on_the_pod_network(kubectl20: Kubectl) -> None:
    kubectl20.apply(busybox_pod("addr", "sleep 3600"))
    kubectl20.wait_running("addr")
    pod_ip = kubectl20.jsonpath("pod/addr", "{.status.podIP}")
    assert pod_ip.startswith("198.18.")
    inside = kubectl20.run("exec", "addr", "--", "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert pod_ip in inside


def test_localhost_in_a_pod_is_the_pod(kubectl20: Kubectl) -> None:
    serve = "mkdir -p /www && echo from-this-pod > /www/index.html && exec httpd -f -p 8080 -h /www"
    kubectl20.apply(busybox_pod("local", serve))
    kubectl20.wait_running("local")
    kubectl20.wait_for(
        lambda: (
            "from-this-pod"
            in kubectl20.run(
                "exec", "local", "--", "wget", "-qO-", "http://localhost:8080/", check=False
            ).stdout
        ),
        "httpd on the pod's localhost",
    )


def test_an_image_labkit_does_not_build_fails_fast(kubectl20: Kubectl) -> None:
    extra = ""
    kubectl20.apply(
        busybox_pod("nope", "true", extra).replace("image: busybox", "image: example.invalid/none:1")
    )
    reasons: set[str] = set()

    def pull_failed() -> bool:
        reason = kubectl20.jsonpath("pod/nope", "{.status.containerStatuses[0].state.waiting.reason}")
        reasons.add(reason)
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons

    kubectl20.wait_for(pull_failed, "ErrImagePull then ImagePullBackOff", timeout=60)
