"""Resource limits are the kernel's: a container over its memory limit is OOMKilled, a CPU limit throttles."""

from __future__ import annotations

from labkit.paths import MANIFESTS
from tests.cluster.kubelet.conftest import Kubectl, busybox_pod


def test_memory_limit_ends_in_oomkilled(kubectl20: Kubectl) -> None:
    limits = "    resources: {limits: {memory: 20Mi}}\n  restartPolicy: Never"
    kubectl20.apply(busybox_pod("hog", "tail /dev/zero", limits))

    def terminated() -> bool:
        return kubectl20.jsonpath("pod/hog", "{.status.containerStatuses[0].state.terminated.reason}") != ""

    kubectl20.wait_for(terminated, "the container to end")
    state = "{.status.containerStatuses[0].state.terminated}"
    assert kubectl20.jsonpath("pod/hog", state.replace("}", ".reason}")) == "OOMKilled"
    assert kubectl20.jsonpath("pod/hog", state.replace("}", ".exitCode}")) == "137"


def test_cpu_limit_throttles(kubectl20: Kubectl) -> None:
    limits = "    resources: {limits: {cpu: 100m, memory: 32Mi}}"
    kubectl20.apply(busybox_pod("spin", "while :; do :; done", limits))
    kubectl20.wait_running("spin")

    def throttled() -> bool:
        stat = kubectl20.run("exec", "spin", "--", "cat", "/sys/fs/cgroup/cpu/cpu.stat", check=False).stdout
        values = dict(line.split() for line in stat.splitlines() if line.strip())
        return int(values.get("nr_throttled", "0")) > 0

    kubectl20.wait_for(throttled, "cpu.stat to count throttled periods", timeout=30)
    quota = kubectl20.run("exec", "spin", "--", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us").stdout
    assert quota.strip() == "10000"


def test_the_memory_pitfall_ends_oomkilled(kubectl20: Kubectl) -> None:
    """manifests/pitfalls/memory-limit-too-low.yaml: the registry under a 16Mi limit is OOMKilled.

    Before the kill the kernel reclaims the container's page cache: an image whose modules compile at
    every start pages the compiler in and out for a minute or more under load, so this also guards the
    image's bytecode (registry/Dockerfile).
    """
    manifest = (MANIFESTS / "pitfalls" / "memory-limit-too-low.yaml").read_text()
    kubectl20.apply(manifest.replace("namespace: mcp-mesh", f"namespace: {kubectl20.namespace}"))
    selector = "app.kubernetes.io/name=registry-memory-too-low"
    ends = "{.items[0].status.containerStatuses[0]['state','lastState'].terminated.reason}"

    def oom_killed() -> bool:
        reasons = kubectl20.run("get", "pods", "-l", selector, "-o", f"jsonpath={ends}", check=False).stdout
        return "OOMKilled" in reasons.split()

    def pod_state() -> str:
        return kubectl20.run("describe", "pods", "-l", selector, check=False).stdout[-2500:]

    kubectl20.wait_for(oom_killed, "the registry to be OOMKilled", timeout=120, explain=pod_state)
