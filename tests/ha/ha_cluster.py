"""The kit's HA registry on the local cluster, and the faults and observations the HA tests need.

Shared by ``tests/ha`` and ``bench/failover.py``: deploy the kit's manifests (RBAC, config, Services,
``registry-ha.yaml``) into a namespace of the caller's own with short election timings, find a pod's
registry process on the host (the local cluster runs pods as processes), delete or pause the leader, time
the moment another replica holds the Lease, and collect every replica's leadership log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import labkit as lk
from labkit import manifests
from registry.leader import LeadingInterval, leading_intervals, parse_micro_time

STATEFULSET = "statefulset/mcp-mesh-registry"
SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
LEASE = "mcp-mesh-registry-leader"
KIT_FILES = (
    "namespace-rbac.yaml",
    "registry-config.yaml",
    "registry-statefulset-dev.yaml",
    "registry-ha.yaml",
)
POLL = 0.05  # seconds between Lease reads while timing a failover


@dataclass(frozen=True)
class Timings:
    """Leader election timings (seconds), set on the StatefulSet through env."""

    lease: float = 4.0
    renew: float = 3.0
    retry: float = 1.0

    def env(self) -> list[dict[str, str]]:
        return [
            {"name": "LEADER_ELECTION_LEASE_DURATION", "value": f"{self.lease:g}s"},
            {"name": "LEADER_ELECTION_RENEW_DEADLINE", "value": f"{self.renew:g}s"},
            {"name": "LEADER_ELECTION_RETRY_PERIOD", "value": f"{self.retry:g}s"},
        ]


def ha_objects(namespace: str, timings: Timings, replicas: int = 3) -> list[dict[str, Any]]:
    """The kit's HA objects for one namespace: no Namespace object, RBAC subjects and timings adjusted."""
    objects: list[dict[str, Any]] = []
    for name in KIT_FILES:
        for obj in manifests.load_objects(lk.MANIFESTS / name):
            if obj["kind"] == "Namespace":
                continue
            if name == "registry-statefulset-dev.yaml" and obj["kind"] == "StatefulSet":
                continue  # only its Services: the StatefulSet is registry-ha.yaml's
            for subject in obj.get("subjects", []):
                subject["namespace"] = namespace
            if obj["kind"] == "StatefulSet":
                obj["spec"]["replicas"] = replicas
                container = obj["spec"]["template"]["spec"]["containers"][0]
                container["env"] = [*container.get("env", []), *timings.env()]
                # Probe often, so readiness follows leadership within a second.
                container["readinessProbe"].update({"initialDelaySeconds": 0, "periodSeconds": 1})
            objects.append(obj)
    return objects


def deploy(lab: lk.Lab, timings: Timings, replicas: int = 3, timeout: float = 180) -> str:
    """Apply the HA registry in the lab's namespace and wait for all pods running and one leader ready."""
    lab.ensure_namespace()
    lab.apply(ha_objects(lab.namespace, timings, replicas), namespace=lab.namespace)
    return wait_settled(lab, replicas, timeout)


def all_answer(pod_ips: Iterable[str]) -> bool:
    """Whether every pod's registry process answers /health (Running does not mean listening yet)."""
    for ip in pod_ips:
        try:
            httpx.get(f"http://{ip}:8000/health", timeout=2).raise_for_status()
        except httpx.HTTPError:
            return False
    return True


def wait_settled(lab: lk.Lab, replicas: int = 3, timeout: float = 120) -> str:
    """Wait for every pod running and exactly one ready pod, the Lease holder; return the holder."""
    holder: list[str] = []

    def one_ready_leader() -> bool:
        pods = lab.pods(SELECTOR)
        if len(pods) != replicas:
            return False
        leader = lab.lease_holder(LEASE)
        ready = sorted(pods[pods["ready"]]["name"])
        if (pods["phase"] == "Running").all() and leader and ready == [leader] and all_answer(pods["ip"]):
            holder[:] = [leader]
            return True
        return False

    lab.wait_for(one_ready_leader, timeout=timeout, progress=False)
    return holder[0]


def wait_for_new_holder(lab: lk.Lab, old: str, timeout: float) -> tuple[str, float]:
    """Poll the Lease until a holder other than ``old`` (and not empty) appears: (holder, monotonic time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lab.lease_holder(LEASE)
        if holder and holder != old:
            return holder, time.monotonic()
        time.sleep(POLL)
    raise AssertionError(f"no replica other than {old} took the Lease within {timeout:.0f}s")


def registry_pid(lab: lk.Lab, pod: str) -> int:
    """The host pid of a pod's registry process, found by the POD_NAME and POD_IP in its environment."""
    ip = lab.get(f"pod/{pod}")["status"].get("podIP")
    wanted = {f"POD_NAME={pod}".encode(), f"POD_IP={ip}".encode()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if b"registry" in cmdline and b"-m" in cmdline and wanted <= environ:
            return int(entry.name)
    raise AssertionError(f"no registry process on this host has POD_NAME={pod} and POD_IP={ip}")


def process_gone(pid: int) -> bool:
    """True once the process has exited (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


@contextmanager
def paused(pid: int) -> Iterator[datetime]:
    """SIGSTOP a process (the leader cut off: it can neither renew nor serve) and SIGCONT it afterwards."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield datetime.now(UTC)
    finally:
        os.kill(pid, signal.SIGCONT)


@dataclass
class LogFollower:
    """``kubectl logs -f`` of one pod instance in the background, so its last lines survive its deletion."""

    lab: lk.Lab
    pod: str
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._proc = subprocess.Popen(
            self.lab.kubectl_command("logs", "-f", f"pod/{self.pod}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "KUBECONFIG": self.lab.kubeconfig},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line)

    def stop(self, timeout: float = 10.0) -> str:
        """Wait (bounded) for the stream to end with the container, then return what it read."""
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=2)
        return "".join(self.lines)


@dataclass
class LeadershipRecord:
    """Leadership intervals gathered across a test: ended pod instances, then the live ones at the end."""

    intervals: list[LeadingInterval] = field(default_factory=list)

    def add_log(self, text: str, ended_at: datetime | None = None) -> None:
        """Add one process's log; an interval still open in an ended process closes at ``ended_at``."""
        for interval in leading_intervals(text):
            if interval.until is None and ended_at is not None:
                interval = LeadingInterval(interval.identity, interval.since, ended_at)
            self.intervals.append(interval)

    def add_live_pods(self, lab: lk.Lab) -> None:
        """Add the logs of the pods alive now, and of their previous containers when they restarted."""
        pods = lab.pods(SELECTOR)
        for name, restarts in zip(pods["name"], pods["restarts"], strict=True):
            if int(restarts) > 0:
                self.add_log(lab.logs(name, previous=True))
            self.add_log(lab.logs(name))


@dataclass(frozen=True)
class Failover:
    """One measured failover: who led, who took over, and how long after the delete the Lease said so."""

    old: str
    new: str  # may equal old: the StatefulSet's new pod of the same name renews "its own" Lease
    seconds: float
    old_log: str  # the deleted instance's whole log, read until it ended
    old_ended_at: datetime  # when its process was seen gone (an upper bound of its leadership)


def fail_over(lab: lk.Lab, grace_period: int | None, timeout: float) -> Failover:
    """Delete the leader's pod (grace 0: a crash; None: a normal SIGTERM) and time the next leader.

    The next leader is the Lease held by another replica, or by a new process of the same pod (the
    StatefulSet recreates it under the same name, and client-go's rules let it renew its own Lease): a
    renewal stamped after the old process was seen gone.
    """
    old = wait_settled(lab)
    pid = registry_pid(lab, old)
    follower = LogFollower(lab, old)
    time.sleep(0.3)  # let kubectl logs -f attach before the process can end
    started = time.monotonic()
    lab.delete(f"pod/{old}", wait=False, grace_period=grace_period)
    ended_at: datetime | None = None
    deadline = started + timeout
    while time.monotonic() < deadline:
        if ended_at is None and process_gone(pid):
            ended_at = datetime.now(UTC)
        spec = lab.lease(LEASE)
        holder, renewed = spec.get("holderIdentity"), spec.get("renewTime")
        if holder and (
            holder != old or (ended_at is not None and renewed and parse_micro_time(renewed) > ended_at)
        ):
            seconds = time.monotonic() - started
            break
        time.sleep(POLL)
    else:
        raise AssertionError(f"no replica led within {timeout:.0f}s after deleting the leader {old}")
    while ended_at is None and time.monotonic() < started + 30:
        if process_gone(pid):
            ended_at = datetime.now(UTC)
        time.sleep(POLL)
    if ended_at is None:
        raise AssertionError(f"{old}'s registry process {pid} still runs 30s after its pod was deleted")
    return Failover(old, str(holder), seconds, follower.stop(), ended_at)
