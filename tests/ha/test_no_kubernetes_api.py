"""Leader election on, but no Kubernetes API: the process says why in its log and in ``/ready``.

Real registry processes, no cluster: one with no way to reach an API at all (no service-account
environment, no kubeconfig), one whose kubeconfig points at a port where nothing listens.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, run_registry

pytestmark = pytest.mark.timeout(60)

ELECTION = {
    "ENABLE_LEADER_ELECTION": "true",
    "REGISTRY_INSTANCE_ID": "registry-0",
    "POD_NAMESPACE": "mcp-mesh",
    "LEADER_ELECTION_LEASE_DURATION": "3s",
    "LEADER_ELECTION_RENEW_DEADLINE": "2s",
    "LEADER_ELECTION_RETRY_PERIOD": "500ms",
    "KUBERNETES_SERVICE_HOST": "",
}

UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:PORT", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def ready_reason(url: str, wanted: str, timeout: float = 10) -> str:
    """Poll /ready until its 503 reason contains ``wanted``; return the last reason."""
    deadline = time.monotonic() + timeout
    reason = ""
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/ready", timeout=5)
        assert response.status_code == 503, f"ready without any Kubernetes API: {response.text}"
        reason = response.json()["reason"]
        if wanted in reason:
            break
        time.sleep(0.2)
    return reason


def test_without_any_kubernetes_api_ready_says_why(tmp_path: Path) -> None:
    env = {**ELECTION, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}
    with run_registry(tmp_path, env) as registry:
        reason = ready_reason(registry.url, "no Kubernetes API")
        assert "no Kubernetes API" in reason, reason
        assert "KUBERNETES_SERVICE_HOST is unset" in reason
        assert httpx.get(f"{registry.url}/health", timeout=5).json()["leader"] is False
        assert "leader election is on but cannot run" in registry.log()


def test_with_an_unreachable_kubernetes_api_ready_says_why(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG.replace("PORT", str(free_port())))
    with run_registry(tmp_path, {**ELECTION, "KUBECONFIG": str(kubeconfig)}) as registry:
        reason = ready_reason(registry.url, "cannot reach the Kubernetes API")
        assert "leader election: cannot reach the Kubernetes API" in reason, reason
        assert "Connection refused" in reason
        assert "attempt failed" in registry.log()
