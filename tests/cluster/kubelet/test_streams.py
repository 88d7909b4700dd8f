"""exec, attach, logs, cp and port-forward through the API server to the real kubelet, by real kubectl
processes (the server-minor one and the kit's) and by the Python client."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream

from labkit.cluster import LocalCluster
from labkit.cluster.addons import api_client
from tests.cluster.kubelet.conftest import Kubectl, busybox_pod, kubectl_binary
from tests.cluster.kubelet.terminal import Terminal
from tests.processes import free_port

SERVE = (
    "mkdir -p /www && head -c 4194304 /dev/urandom > /www/big.bin && sha256sum /www/big.bin > /www/big.sha"
    " && echo ready && exec httpd -f -p 8080 -h /www"
)


@pytest.fixture
def web(kubectl: Kubectl) -> str:
    kubectl.apply(busybox_pod("web", SERVE))
    kubectl.wait_running("web")
    kubectl.wait_for(lambda: "ready" in kubectl.run("logs", "web", check=False).stdout, "the pod's file")
    return "web"


def test_exec_passes_exit_status_and_stdin(kubectl: Kubectl, web: str) -> None:
    result = kubectl.run("exec", web, "--", "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
    assert result.returncode == 7
    assert result.stdout == "out\n"
    assert "err" in result.stderr
    echoed = kubectl.run("exec", "-i", web, "--", "sh", "-c", "tr a-z A-Z", input="hello stdin\n")
    assert echoed.stdout == "HELLO STDIN\n"


def test_exec_with_a_tty(kubectl: Kubectl, web: str) -> None:
    """``kubectl exec -it ... -- sh`` driven through a pseudo-terminal, as a person types it."""
    with Terminal(kubectl.argv("exec", "-it", web, "--", "sh")) as terminal:
        terminal.type(b"tty && echo $((6 * 7))")
        terminal.read_until(b"42")
        assert b"/dev/pts/" in terminal.seen
        terminal.type(b"exit 3")
        assert terminal.process.wait(timeout=30) == 3


def test_exec_errors_are_the_real_node_errors(kubectl: Kubectl, web: str) -> None:
    missing_container = kubectl.run("exec", web, "-c", "nope", "--", "true", check=False)
    assert missing_container.returncode != 0
    assert "nope" in missing_container.stderr
    assert "not valid" in missing_container.stderr
    missing_command = kubectl.run("exec", web, "--", "no-such-command", check=False)
    assert missing_command.returncode != 0
    assert "no-such-command" in missing_command.stderr + missing_command.stdout
    kubectl.apply(busybox_pod("done", "true", "  restartPolicy: Never"))
    kubectl.wait_for(lambda: kubectl.jsonpath("pod/done", "{.status.phase}") == "Succeeded", "pod done")
    not_running = kubectl.run("exec", "done", "--", "true", check=False)
    assert not_running.returncode != 0
    assert "completed pod" in not_running.stderr or "not running" in not_running.stderr


def test_logs_and_follow(kubectl: Kubectl) -> None:
    kubectl.apply(
        busybox_pod("talker", "i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); sleep 0.2; done")
    )
    kubectl.wait_running("talker")
    follow = subprocess.Popen(kubectl.argv("logs", "-f", "talker"), stdout=subprocess.PIPE, text=True)
    try:
        assert follow.stdout is not None
        lines = [follow.stdout.readline() for _ in range(5)]
        assert lines[0] == "line-0\n"
        assert lines[4] == "line-4\n"
    finally:
        follow.kill()
        follow.wait()
    assert kubectl.run("logs", "talker", "--tail=1").stdout.startswith("line-")


def _start_forward(kubectl: Kubectl, pod: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        kubectl.argv("port-forward", f"pod/{pod}", f"{port}:8080"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "Forwarding from" in process.stdout.readline()
    return process, port


@pytest.fixture
def forward(kubectl: Kubectl, web: str) -> Iterator[int]:
    process, port = _start_forward(kubectl, web)
    yield port
    process.terminate()
    process.wait(timeout=10)


def _http_get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0], head[:200]
    return body


def test_port_forward_large_transfer_byte_for_byte(forward: int) -> None:
    expected = _http_get(forward, "/big.sha").split()[0].decode()
    body = _http_get(forward, "/big.bin")
    assert len(body) == 4194304
    assert hashlib.sha256(body).hexdigest() == expected


def test_port_forward_concurrent_connections(forward: int) -> None:
    trials = 8
    barrier = threading.Barrier(trials)

    def fetch() -> str:
        barrier.wait(timeout=30)
        return hashlib.sha256(_http_get(forward, "/big.bin")).hexdigest()

    with concurrent.futures.ThreadPoolExecutor(trials) as pool:
        digests = list(pool.map(lambda _: fetch(), range(trials)))
    expected = _http_get(forward, "/big.sha").split()[0].decode()
    assert digests == [expected] * trials


def test_port_forward_survives_a_client_that_disconnects_mid_stream(
    local_cluster: LocalCluster, namespace: str
) -> None:
    """With the kit's kubectl only: kubectl v1.20 itself then fails its next stream after a 30 s
    timeout ("error creating error stream"), a client bug fixed in later kubectl, not the node's."""
    kubectl = Kubectl(kubectl_binary("kit"), local_cluster.kubeconfig_path, namespace)
    kubectl.apply(busybox_pod("web", SERVE))
    kubectl.wait_running("web")
    kubectl.wait_for(lambda: "ready" in kubectl.run("logs", "web", check=False).stdout, "the pod's file")
    process, port = _start_forward(kubectl, "web")
    try:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /big.bin HTTP/1.0\r\nHost: x\r\n\r\n")
                assert sock.recv(1024)
            time.sleep(0.5)
        assert _http_get(port, "/big.sha")  # the forward still serves the next client
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_port_forward_to_a_closed_port_fails_that_connection_only(kubectl: Kubectl, web: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        kubectl.argv("port-forward", f"pod/{web}", f"{port}:9"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert b"Forwarding from" in process.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.settimeout(30)
            assert sock.recv(1024) == b""  # closed by the forward, not left hanging
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert b"connection refused" in stderr.lower() or process.returncode is not None


def test_cp_both_ways(kubectl: Kubectl, web: str, tmp_path: Path) -> None:
    source = tmp_path / "up.txt"
    source.write_bytes(os.urandom(100000))
    kubectl.run("cp", str(source), f"{web}:/tmp/up.txt")
    back = tmp_path / "down.txt"
    kubectl.run("cp", f"{web}:/tmp/up.txt", str(back))
    assert back.read_bytes() == source.read_bytes()


def test_run_rm_attaches_and_cleans_up(kubectl: Kubectl, web: str) -> None:
    """The guide's ``kubectl run test-curl --rm -it ...``, without a terminal: the output comes back
    through attach and the pod is deleted (retried as ``Kubectl.run_rm`` says)."""
    kubectl.run("expose", "pod", web, "--port=8000", "--target-port=8080", "--name=websvc")
    kubectl.wait_for(
        lambda: kubectl.jsonpath("endpoints/websvc", "{.subsets[0].addresses[0].ip}") != "", "endpoints"
    )
    url = f"http://websvc.{kubectl.namespace}:8000/big.sha"
    output = kubectl.run_rm("probe", "busybox", "wget", "-qO-", url, expect="/www/big.bin")
    assert "/www/big.bin" in output
    kubectl.wait_for(
        lambda: "probe-" not in kubectl.run("get", "pods", "-o", "name").stdout, "probes deleted"
    )


def test_python_client_exec_and_port_forward(local_cluster: LocalCluster, kubectl20: Kubectl) -> None:
    kubectl20.apply(busybox_pod("web", SERVE))
    kubectl20.wait_running("web")
    kubectl20.wait_for(lambda: "ready" in kubectl20.run("logs", "web", check=False).stdout, "the pod's file")
    api = client.CoreV1Api(api_client(local_cluster.kubeconfig_path))
    namespace = kubectl20.namespace
    output = stream(
        api.connect_get_namespaced_pod_exec, "web", namespace,
        command=["cat", "/www/big.sha"], stderr=True, stdin=False, stdout=True, tty=False,
    )  # fmt: skip
    assert "/www/big.bin" in output
    forwarded = portforward(api.connect_get_namespaced_pod_portforward, "web", namespace, ports="8080")
    sock = forwarded.socket(8080)
    try:
        sock.setblocking(True)
        sock.sendall(b"GET /big.sha HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    assert b"/www/big.bin" in data
