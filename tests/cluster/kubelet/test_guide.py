"""The guide's verify and debug steps, as typed, against the kit's registry StatefulSet on the kubelet
node (namespace ``mcp-mesh``, as the guide names it; this cluster is the tests' own)."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster import LocalCluster
from labkit.paths import MANIFESTS, REPO_ROOT
from tests.cluster.kubelet.conftest import Kubectl, kubectl_binary
from tests.cluster.kubelet.terminal import Terminal
from tests.processes import free_port

POD = "mcp-mesh-registry-0"


@pytest.fixture(scope="module")
def registry(local_cluster: LocalCluster) -> Iterator[Kubectl]:
    kubectl = Kubectl(kubectl_binary("v1.20"), local_cluster.kubeconfig_path, "mcp-mesh")
    phase = "{.status.phase}"
    kubectl.wait_for(
        lambda: kubectl.jsonpath("namespace/mcp-mesh", phase) != "Terminating", "an old mcp-mesh"
    )
    for name in ("namespace-rbac.yaml", "registry-config.yaml", "registry-statefulset-dev.yaml"):
        kubectl.run("apply", "-f", str(MANIFESTS / name))
    ready = "{.status.conditions[?(@.type=='Ready')].status}"
    kubectl.wait_for(lambda: kubectl.jsonpath(f"pod/{POD}", ready) == "True", f"{POD} Ready", timeout=180)
    yield kubectl
    kubectl.run("delete", "namespace", "mcp-mesh", "--wait=false", check=False)


@pytest.fixture(params=["v1.20", "kit"])
def guide_kubectl(request: pytest.FixtureRequest, registry: Kubectl) -> Kubectl:
    return Kubectl(kubectl_binary(request.param), registry.kubeconfig, "mcp-mesh")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


@pytest.mark.parametrize(
    ("port", "path", "expected"), [(8000, "/health", b"healthy"), (9090, "/metrics", b"# HELP")]
)
def test_port_forward_to_the_service_then_curl(
    guide_kubectl: Kubectl, port: int, path: str, expected: bytes
) -> None:
    """``kubectl port-forward svc/mcp-mesh-registry 8000:8000 &`` then ``curl http://localhost:8000/health``
    (a free local port stands in for 8000, which other programs on a shared machine may hold)."""
    local = free_port()
    process = subprocess.Popen(
        guide_kubectl.argv("port-forward", "svc/mcp-mesh-registry", f"{local}:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "Forwarding from" in process.stdout.readline()
        assert expected in _get(f"http://localhost:{local}{path}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_exec_sh_then_sqlite3_wget_and_df(guide_kubectl: Kubectl) -> None:
    """``kubectl exec -it mcp-mesh-registry-0 -- sh``, then the guide's three debug commands, typed."""
    with Terminal(guide_kubectl.argv("exec", "-it", POD, "--", "sh")) as terminal:
        # Each line prints a marker the typed line does not hold, so the echo of the typing never matches.
        terminal.type(b"sqlite3 /data/registry.db 'select count(*) from agents;' && echo SQL-$((40 + 2))")
        terminal.read_until(b"SQL-42")
        terminal.type(b"wget -O- http://localhost:8000/health && echo WGET-$((40 + 2))")
        terminal.read_until(b"WGET-42")
        assert b"healthy" in terminal.seen
        terminal.type(b"df -h /data && echo DF-$((40 + 2))")
        terminal.read_until(b"DF-42")
        assert b"Filesystem" in terminal.seen
        terminal.type(b"exit")
        assert terminal.process.wait(timeout=30) == 0


def test_run_test_curl_against_the_service_name(guide_kubectl: Kubectl) -> None:
    """``kubectl run test-curl --rm -it --image=curlimages/curl --restart=Never -- curl -s
    http://mcp-mesh-registry.mcp-mesh:8000/health`` (``-i`` without a terminal; retried when kubectl
    loses a millisecond container's output, see ``Kubectl.run_rm``)."""
    command = ["curl", "-s", "http://mcp-mesh-registry.mcp-mesh:8000/health"]
    output = guide_kubectl.run_rm("test-curl", "curlimages/curl", *command, expect="healthy")
    assert "healthy" in output


def test_logs_of_the_statefulset(guide_kubectl: Kubectl) -> None:
    """``kubectl logs statefulset/mcp-mesh-registry --all-containers=true`` streams one pod's logs."""
    logs = guide_kubectl.run(
        "logs", "statefulset/mcp-mesh-registry", "--all-containers=true", "--tail=50"
    ).stdout
    assert logs.strip()


def test_the_postgres_index_step_with_psql(local_cluster: LocalCluster) -> None:
    """The guide's PostgreSQL index step, on the real pod and the real schema: ``kubectl exec
    deploy/postgres -- psql -U mcpmesh -d registry -c "CREATE INDEX ..."`` once the registry (PostgreSQL
    backend, ``postgres-registry.yaml``) has made its tables. The guide's own text names ``postgres-0``
    and columns the schema does not have; lesson 07 teaches the corrected command."""
    kubectl = Kubectl(kubectl_binary("v1.20"), local_cluster.kubeconfig_path, "mcp-pg")
    try:
        for name in ("namespace-rbac.yaml", "postgres-registry.yaml", "registry-statefulset-dev.yaml"):
            text = (MANIFESTS / name).read_text().replace("namespace: mcp-mesh", "namespace: mcp-pg")
            kubectl.apply(text.replace("  name: mcp-mesh\n", "  name: mcp-pg\n"))
        ready = "{.status.conditions[?(@.type=='Ready')].status}"
        kubectl.wait_for(lambda: kubectl.jsonpath(f"pod/{POD}", ready) == "True", f"{POD} Ready", timeout=240)
        psql = ["exec", "deploy/postgres", "--", "psql", "-U", "mcpmesh", "-d", "registry"]
        kubectl.run(*psql, "-c", "CREATE INDEX idx_capabilities_capability ON capabilities(capability);")
        indexes = kubectl.run(
            *psql, "-tAc", "SELECT indexname FROM pg_indexes WHERE tablename = 'capabilities'"
        )
        assert "idx_capabilities_capability" in indexes.stdout.split()
    finally:
        kubectl.run("delete", "namespace", "mcp-pg", "--wait=false", check=False)


SCRIPT = REPO_ROOT / "scripts" / "test_registry_health.sh"


def test_the_guide_health_script_passes_unchanged(guide_kubectl: Kubectl, tmp_path: Path) -> None:
    """``scripts/test_registry_health.sh``, the guide's text byte for byte, run by bash with the
    kubectl under test alone first on PATH. Its ``kubectl run test-curl --rm -it`` has the race of
    ``Kubectl.run_rm`` (a container that ends before kubectl attaches prints nothing), so a run
    without the health answer is tried again, up to three times, once the last ``test-curl`` is gone."""
    guide = REPO_ROOT.parent / "shared" / "guide" / "registry-on-kubernetes.md"
    if guide.is_file():
        assert SCRIPT.read_text().strip() in guide.read_text(), "the script is the guide's, unchanged"
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "kubectl").symlink_to(guide_kubectl.binary)
    env = {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(guide_kubectl.kubeconfig),
    }
    default = Kubectl(guide_kubectl.binary, guide_kubectl.kubeconfig, "default")
    for _ in range(3):
        default.wait_for(
            lambda: not default.run("get", "pod", "test-curl", "-o", "name", check=False).stdout,
            "an earlier test-curl pod to go",
        )
        result = subprocess.run(
            ["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=180, check=False
        )
        if '"healthy"' in result.stdout:
            break
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout
    assert '"healthy"' in result.stdout, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("Registry health check passed!")
