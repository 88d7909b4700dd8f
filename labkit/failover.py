"""Leader election and failover, measured: who leads, how long a failover takes, a stalled leader.

Lesson 04 calls these so that it reads as the guide does: delete the leader, see who takes over and
when. The Lease and the pods are sampled in the background during the failovers, for the timeline.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from labkit.errors import LabError, RegistryUnavailable
from labkit.metrics import scrape_metrics
from labkit.registry_client import RegistryClient
from labkit.waiting import poll, sleep

if TYPE_CHECKING:
    from labkit.lab import Lab

SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
FINE_INTERVAL = 0.1  # failovers take about a second: poll finer than the default second


def leader_ready(lab: Lab, replicas: int, lease_name: str, selector: str = SELECTOR) -> bool:
    """Every replica running, one Lease holder, and that holder ready (on SQLite only it is)."""
    pods = lab.pods(selector)
    if len(pods) != replicas:
        return False
    holder = lab.lease_holder(lease_name)
    running = (pods["phase"] == "Running").sum() == replicas
    return bool(running and holder and pods.set_index("name").get("ready", {}).get(holder, False))


def leader_flags(
    lab: Lab, selector: str = SELECTOR, port: int = 9090, timeout: float = 60.0, progress: bool = True
) -> dict[str, float]:
    """Each replica's ``mcp_registry_leader``, scraped from its metrics port through a port-forward.

    A replica can be Running before its server listens (it migrates its database first), so a pod whose
    port does not answer yet is tried again until ``timeout``.
    """
    flags: dict[str, float] = {}

    def scrape_the_rest() -> tuple[bool, str]:
        waiting = [pod for pod in sorted(lab.pods(selector)["name"]) if pod not in flags]
        for pod in waiting:
            try:
                with lab.port_forward(f"pod/{pod}", port) as url:
                    frame = scrape_metrics(url)
            except RegistryUnavailable:
                continue
            flags[pod] = float(frame[frame["name"] == "mcp_registry_leader"]["value"].sum())
        missing = [pod for pod in waiting if pod not in flags]
        return not missing, f"waiting for {', '.join(missing)}" if missing else "all scraped"

    poll(scrape_the_rest, f"metrics of every replica on port {port}", timeout, progress=progress)
    return flags


def ready_probe(url: str) -> Callable[[], bool]:
    """A probe for ``serving``: whether the registry at url answers /ready with 200; an error is no."""

    def ready() -> bool:
        try:
            with RegistryClient(url, timeout=2.0) as client:
                return client.ready()
        except LabError:
            return False

    return ready


def wait_fine(condition: Callable[[], bool], what: str, timeout: float) -> None:
    """Wait for condition, polling every 0.1 s, with progress."""
    poll(lambda: (bool(condition()), "waiting"), what, timeout, interval=FINE_INTERVAL)


def pod_uids(lab: Lab, selector: str = SELECTOR) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in lab.list_objects("pod", selector)}


def measure_failover(
    lab: Lab,
    lease_name: str,
    *,
    grace_period: int | None,
    serving: Callable[[], bool],
    agents_back: Callable[[], bool],
    timeout: float = 90,
    agents_timeout: float = 90,
    selector: str = SELECTOR,
) -> dict[str, Any]:
    """Delete the leader's pod; time the new leader, the Service serving again, and the agents' return.

    The new leader is another replica holding the Lease, or the StatefulSet's new pod of the same name
    once it logs that it leads (a crashed leader's own successor may renew its Lease).
    """
    old = lab.lease_holder(lease_name)
    if not old:
        raise LabError(f"lease/{lease_name} has no holder: there is no leader to fail over from")
    old_uid = pod_uids(lab, selector)[old]
    started = time.monotonic()
    lab.delete(f"pod/{old}", wait=False, grace_period=grace_period)
    times: dict[str, Any] = {"old": old, "grace_period": "default" if grace_period is None else grace_period}

    def new_leader() -> bool:
        holder = lab.lease_holder(lease_name)
        if holder and holder == old:
            try:
                recreated = pod_uids(lab, selector).get(old, old_uid) != old_uid
                if not (recreated and "started leading" in lab.logs(old)):
                    return False
            except LabError:
                return False
        if holder:
            times["leader_s"], times["new"] = time.monotonic() - started, holder
        return bool(holder)

    wait_fine(new_leader, "a new leader", timeout)
    wait_fine(serving, "the Service to answer /ready", timeout)
    times["serving_s"] = time.monotonic() - started
    wait_fine(agents_back, "every agent registered again", agents_timeout)
    times["agents_back_s"] = time.monotonic() - started
    return times


@dataclass
class LeaseWatch:
    """Samples the Lease holder and each pod's readiness in a thread, for the timeline picture."""

    lab: Lab
    lease_name: str
    selector: str = SELECTOR
    every: float = 0.25
    samples: list[dict[str, Any]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def __enter__(self) -> LeaseWatch:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def mark(self, text: str) -> None:
        """An event on the timeline (a delete, a crash)."""
        self.marks.append((time.monotonic() - self._started, text))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                holder = self.lab.lease_holder(self.lease_name)
                pods = self.lab.pods(self.selector)
                ready = dict(zip(pods["name"], pods["ready"], strict=True))
            except Exception:  # a sample lost while the API is busy is only a gap in the picture
                holder, ready = None, {}
            self.samples.append({"t": time.monotonic() - self._started, "holder": holder, "ready": ready})
            self._stop.wait(self.every)

    def frame(self) -> pd.DataFrame:
        """One row per sample and pod: t, pod, ready, holds the Lease."""
        rows = [
            {"t": s["t"], "pod": pod, "ready": bool(ok), "leader": s["holder"] == pod}
            for s in self.samples
            for pod, ok in s["ready"].items()
        ]
        return pd.DataFrame(rows, columns=["t", "pod", "ready", "leader"])


def segments(frame: pd.DataFrame, column: str) -> dict[str, list[tuple[float, float]]]:
    """Per pod, the (start, length) spans where column is true: what broken_barh draws."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for pod, rows in frame.sort_values("t").groupby("pod"):
        start: float | None = None
        last = 0.0
        for t, on in zip(rows["t"], rows[column], strict=True):
            if on and start is None:
                start = float(t)
            if not on and start is not None:
                spans.setdefault(str(pod), []).append((start, float(t) - start))
                start = None
            last = float(t)
        if start is not None:
            spans.setdefault(str(pod), []).append((start, max(last - start, 0.05)))
        spans.setdefault(str(pod), [])
    return spans


def plot_timeline(frame: pd.DataFrame, marks: list[tuple[float, str]] | None = None) -> Any:
    """Each pod's readiness (light) and Lease holding (dark) over time, with the failovers marked."""
    import matplotlib.pyplot as plt

    pods = sorted(frame["pod"].unique())
    fig, ax = plt.subplots(figsize=(11, 0.8 + 0.7 * max(len(pods), 1)))
    ready, leading = segments(frame, "ready"), segments(frame, "leader")
    for row, pod in enumerate(pods):
        ax.broken_barh(
            ready.get(pod, []), (row - 0.35, 0.7), facecolors="#b9dcae", label="ready" if row == 0 else None
        )
        ax.broken_barh(
            leading.get(pod, []),
            (row - 0.15, 0.3),
            facecolors="#2f6b1f",
            label="holds the Lease" if row == 0 else None,
        )
    for t, text in marks or []:
        ax.axvline(t, color="#c0392b", linestyle="--", linewidth=1)
        ax.text(t, len(pods) - 0.4, f" {text}", color="#c0392b", fontsize=8, va="bottom")
    ax.set_yticks(range(len(pods)), pods)
    ax.set_xlabel("seconds")
    ax.set_ylim(-0.6, len(pods) + 0.2)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Lease holder and readiness across the failovers")
    fig.tight_layout()
    return fig


def plot_failover_times(table: pd.DataFrame) -> Any:
    """The failover timings as grouped bars: new leader, Service serving, agents back."""
    columns = [c for c in ("leader_s", "serving_s", "agents_back_s") if c in table.columns]
    ax = (
        table[columns]
        .rename(
            columns={"leader_s": "new leader", "serving_s": "Service serving", "agents_back_s": "agents back"}
        )
        .plot.barh(figsize=(8, 2.6))
    )
    ax.set_xlabel("seconds after the leader's pod was deleted")
    ax.invert_yaxis()
    ax.figure.tight_layout()
    return ax.figure


# -- a stalled leader -------------------------------------------------------------------------------


@dataclass
class PodProcess:
    """A pod's main process and how to signal it: on this machine, or inside the node's container."""

    pid: int
    node_container: str | None = None  # kind / minikube (docker driver): the node is a container

    def signal(self, number: int) -> None:
        if self.node_container is None:
            import os

            os.kill(self.pid, number)
            return
        subprocess.run(
            node_exec(self.node_container, f"kill -{number} {self.pid}"),
            check=True,
            capture_output=True,
            timeout=30,
        )

    def pause(self, seconds: float) -> None:
        """SIGSTOP, a wait, SIGCONT: a hiccup as a long GC pause or CPU throttling would make."""
        self.signal(signal.SIGSTOP)
        try:
            sleep(seconds, f"the leader paused for {seconds:g}s")
        finally:
            self.signal(signal.SIGCONT)


def node_exec(container: str, script: str) -> list[str]:
    """``docker exec`` into a node container (kind and minikube's docker driver run nodes so)."""
    return ["docker", "exec", container, "sh", "-c", script]


def find_on_host(pod: str, ip: str, proc: Path = Path("/proc")) -> int | None:
    """The registry process whose environment names the pod (POD_NAME and POD_IP), on this machine."""
    wanted = {f"POD_NAME={pod}".encode(), f"POD_IP={ip}".encode()}
    for entry in proc.iterdir():
        try:
            if (
                entry.name.isdigit()
                and wanted <= set((entry / "environ").read_bytes().split(b"\0"))
                and b"registry" in (entry / "cmdline").read_bytes()
            ):
                return int(entry.name)
        except OSError:
            continue
    return None


def find_in_node(node: str, pod: str) -> int | None:
    """The same search inside a node container, when docker runs the cluster's nodes."""
    if shutil.which("docker") is None:
        return None
    script = (
        "for p in /proc/[0-9]*; do "
        f"tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx {shlex.quote('POD_NAME=' + pod)} "
        "&& grep -q registry $p/cmdline 2>/dev/null && echo ${p#/proc/}; done"
    )
    try:
        result = subprocess.run(
            node_exec(node, script), capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    pids = [int(line) for line in result.stdout.split() if line.isdigit()]
    return min(pids) if pids else None


def find_registry_process(lab: Lab, pod: str) -> PodProcess | None:
    """The pod's registry process: on this machine (the local cluster; kind as root), or inside its
    node's container (kind, minikube with the docker driver); None when neither can reach it."""
    obj = lab.get(f"pod/{pod}")
    pid = find_on_host(pod, str(obj["status"].get("podIP", "")))
    if pid is not None:
        return PodProcess(pid)
    node = (obj.get("spec") or {}).get("nodeName")
    if node and not lab.local:
        pid = find_in_node(node, pod)
        if pid is not None:
            return PodProcess(pid, node_container=node)
    return None


def stall_the_leader(lab: Lab, lease_name: str, times: int, seconds: float) -> int:
    """Pause whoever leads, ``times`` times; return how much leaseTransitions rose."""
    before = int(lab.lease(lease_name).get("leaseTransitions", 0))
    for _ in range(times):
        holder = lab.lease_holder(lease_name)
        process = find_registry_process(lab, holder) if holder else None
        if process is None:
            raise LabError(f"the leader {holder}'s process cannot be reached from this machine")
        process.pause(seconds)
        sleep(3, "the replicas to settle")
    return int(lab.lease(lease_name).get("leaseTransitions", 0)) - before


def leaders_at_once(lab: Lab, selector: str = SELECTOR) -> list[Any]:
    """Pairs of replicas whose logged leadership intervals overlap (none, if the election is safe)."""
    from registry.leader import leading_intervals, overlapping_pairs

    intervals = [i for pod in sorted(lab.pods(selector)["name"]) for i in leading_intervals(lab.logs(pod))]
    return overlapping_pairs(intervals, open_end=datetime.now(UTC))
