"""The registry's upgrade procedure, measured: drain every replica, restart them one at a time, resume.

Drain is per replica and in memory (a restarted pod comes up undrained), so it is sent to each pod
directly rather than through the Service. On PostgreSQL every replica is ready and
``kubectl rollout restart`` completes by itself; on SQLite the followers are never ready, so the
StatefulSet controller replaces the highest ordinal and then waits for it forever: the lessons show
that stall and finish the restart by hand, followers first and the leader last.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.agents import MeshAgent, call_tool
from labkit.errors import BadParameter, LabError, ObjectNotFound, RegistryUnavailable
from labkit.registry_client import RegistryClient
from labkit.waiting import poll, sleep

if TYPE_CHECKING:
    from labkit.lab import Lab

SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
DRAIN_PATH = "/admin/drain"
REVISION_LABEL = "controller-revision-hash"


def admin_token(lab: Lab, secret: str = "mcp-registry-secret") -> str | None:
    """The registry's ``AUTH_TOKEN`` from its Secret (None when unset: admin routes are then open)."""
    encoded = (lab.get(f"secret/{secret}").get("data") or {}).get("AUTH_TOKEN")
    return base64.b64decode(encoded).decode() if encoded else None


def drain_replica(url: str, draining: bool | None, token: str | None = None) -> dict[str, Any]:
    """POST (True: drain), DELETE (False: resume) or GET (None) ``/admin/drain`` on one registry.

    Answers ``{"draining": bool, "live_claims": n}``: live_claims counts the jobs an agent holds now.
    """
    if draining is not None and not isinstance(draining, bool):
        raise BadParameter(f"draining must be True, False or None, not {draining!r}")
    method = {None: "GET", True: "POST", False: "DELETE"}[draining]
    with RegistryClient(url, token=token) as client:
        return dict(client.json(method, DRAIN_PATH))


def set_drain(
    lab: Lab,
    draining: bool | None,
    token: str | None = None,
    selector: str = SELECTOR,
    port: int = 8000,
    timeout: float = 60,
) -> dict[str, dict]:
    """``drain_replica`` on every registry pod, each through its own port-forward; by pod name.

    A StatefulSet pod that was just deleted comes back under the same name: until the new one runs (the
    old one gone, the new one created and started) and listens, it is asked again.
    """
    states: dict[str, dict] = {}
    for pod in sorted(lab.pods(selector)["name"]):

        def answered(pod: str = pod) -> tuple[bool, str]:
            waiting = not_running_yet(lab, pod)
            if waiting:
                return False, waiting
            try:
                with lab.port_forward(f"pod/{pod}", port) as url:
                    states[pod] = drain_replica(url, draining, token)
            except BadParameter:
                raise
            except LabError as exc:  # RegistryUnavailable, or the pod went away meanwhile
                return False, str(exc)
            return True, str(states[pod])

        poll(answered, f"{pod} to answer {DRAIN_PATH}", timeout, interval=1.0, progress=False)
    return states


def not_running_yet(lab: Lab, pod: str) -> str:
    """Why ``pod`` cannot answer yet (gone, terminating, not running), or "" when it runs."""
    try:
        found = lab.get(f"pod/{pod}")
    except ObjectNotFound:
        return f"pod/{pod} is not recreated yet"
    if (found.get("metadata") or {}).get("deletionTimestamp"):
        return f"pod/{pod} is still terminating"
    phase = (found.get("status") or {}).get("phase")
    return "" if phase == "Running" else f"pod/{pod} is {phase or 'not scheduled yet'}"


def rollout_restart(lab: Lab, ref: str) -> str:
    """``kubectl rollout restart REF``: a new template revision, so the controller replaces every pod."""
    return lab.kubectl("rollout", "restart", ref).strip()


def ordinal(pod: str) -> int:
    """A StatefulSet pod's ordinal (``mcp-mesh-registry-2`` -> 2)."""
    match = re.search(r"-(\d+)$", pod)
    if match is None:
        raise BadParameter(f"{pod!r} is not a StatefulSet pod name (NAME-ORDINAL)")
    return int(match.group(1))


def restart_order(revisions: Mapping[str, str], update_revision: str, leader: str | None) -> list[str]:
    """Pods still on an old revision, in the order to delete them: followers from the highest ordinal
    (as the controller goes), the Lease holder last so that leadership moves only once."""
    old = [pod for pod, revision in revisions.items() if revision != update_revision]
    return sorted(old, key=lambda pod: (pod == leader, -ordinal(pod)))


def pod_revisions(lab: Lab, selector: str = SELECTOR) -> dict[str, str]:
    """Each running (not terminating) pod's template revision, by name."""
    return {
        pod["metadata"]["name"]: pod["metadata"].get("labels", {}).get(REVISION_LABEL, "")
        for pod in lab.list_objects("pod", selector)
        if not pod["metadata"].get("deletionTimestamp")
    }


def update_revision(lab: Lab, ref: str) -> str:
    """The revision the StatefulSet rolls towards (``status.updateRevision``)."""
    return str(lab.get(ref).get("status", {}).get("updateRevision", ""))


def pod_column(lab: Lab, column: str, selector: str = SELECTOR) -> dict[str, Any]:
    """One column of ``lab.pods`` (``ready``, ``phase``) by pod name."""
    pods = lab.pods(selector)
    return dict(zip(pods["name"], pods[column], strict=True))


@dataclass
class Stall:
    """What the controller did in a window after ``rollout restart``: pods it replaced, any ready."""

    seconds: float
    replaced: list[str]
    replaced_ready: list[str]
    old: list[str]


def watch_stall(lab: Lab, ref: str, seconds: float, selector: str = SELECTOR) -> Stall:
    """Wait ``seconds`` and report which pods the controller moved to the new revision meanwhile."""
    sleep(seconds, "the rolling restart to go on (on SQLite it will not)")
    target = update_revision(lab, ref)
    revisions = pod_revisions(lab, selector)
    ready = pod_column(lab, "ready", selector)
    replaced = sorted(p for p, r in revisions.items() if r == target)
    return Stall(
        seconds=seconds,
        replaced=replaced,
        replaced_ready=[p for p in replaced if ready.get(p)],
        old=sorted(set(revisions) - set(replaced)),
    )


ON_DELETE = '{"spec":{"updateStrategy":{"type":"OnDelete"}}}'
ROLLING_UPDATE = '{"spec":{"updateStrategy":{"type":"RollingUpdate"}}}'


def finish_by_hand(
    lab: Lab, ref: str, lease_name: str, timeout: float, selector: str = SELECTOR
) -> list[str]:
    """Finish a stalled restart: switch the StatefulSet to ``OnDelete`` (a deleted pod then always comes
    back at the new revision; under a stalled RollingUpdate the controller may bring it back at the old
    one), delete the old pods followers first and the leader last, each once the one before is back, and
    switch back to ``RollingUpdate``. Returns the pods deleted, in order."""
    target = update_revision(lab, ref)
    lab.kubectl("patch", ref, "--type", "merge", "-p", ON_DELETE)
    try:
        order = restart_order(pod_revisions(lab, selector), target, lab.lease_holder(lease_name))
        for pod in order:
            lab.delete(f"pod/{pod}")

            def back(pod: str = pod) -> tuple[bool, str]:
                phase = pod_column(lab, "phase", selector).get(pod, "absent")
                at = pod_revisions(lab, selector).get(pod, "")
                return phase == "Running" and at == target, f"{pod}: {phase}, revision {at or '-'}"

            poll(back, f"{pod} to come back at the new revision", timeout, interval=0.5)
    finally:
        lab.kubectl("patch", ref, "--type", "merge", "-p", ROLLING_UPDATE)
    return order


@dataclass
class Availability:
    """Samples ``probe`` in a thread: True all well, False not, None (or an exception) cannot tell now.

    Used to watch the agents during an upgrade: a sample the registry cannot answer (a pod going
    away under the port-forward) says nothing about the agents, so it is counted apart.
    """

    probe: Callable[[], bool | None]
    every: float = 0.25
    samples: list[tuple[float, bool | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Availability:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = self.probe()
            except Exception:  # the registry did not answer: unknown, not down
                ok = None
            self.samples.append((time.monotonic(), None if ok is None else bool(ok)))
            self._stop.wait(self.every)

    @property
    def down_seconds(self) -> float:
        """Time the probe said False."""
        return seconds_where(self.samples, False)

    @property
    def unknown_seconds(self) -> float:
        """Time the probe could not tell."""
        return seconds_where(self.samples, None)

    @property
    def outages(self) -> int:
        """How many times a known True was followed (past unknown samples) by a False."""
        known = [ok for _, ok in self.samples if ok is not None]
        return sum(1 for a, b in itertools.pairwise(known) if a and not b)


def seconds_where(samples: list[tuple[float, bool | None]], value: bool | None) -> float:
    """Time covered by the samples equal to ``value``, each lasting until the next (time-ordered)."""
    return sum(b[0] - a[0] for a, b in itertools.pairwise(samples) if a[1] is value)


def job_state(url: str, job_id: str) -> dict[str, Any] | None:
    """``GET /jobs/{id}`` through the Service; None when this registry does not know the job (404)."""
    with RegistryClient(url) as client:
        response = client.request("GET", f"/jobs/{job_id}", ok=(404,))
        return None if response.status_code == 404 else dict(response.json())


def wait_job(
    url: str, job_id: str, done: Callable[[dict | None], bool], what: str, timeout: float
) -> dict | None:
    """Poll the job until ``done(job)``; a registry that is briefly unreachable is waited out."""
    last: list[dict | None] = [None]

    def probe() -> tuple[bool, str]:
        try:
            last[0] = job_state(url, job_id)
        except (RegistryUnavailable, LabError) as exc:
            return False, f"registry unreachable: {exc}"
        job = last[0]
        state = (
            "unknown to the registry"
            if job is None
            else f"{job.get('status')}, progress {job.get('progress')}"
        )
        return done(job), state

    poll(probe, what, timeout, interval=0.5)
    return last[0]


def submit_count(dispatcher: MeshAgent, timeout: float, steps: int, delay: float) -> str:
    """Call the dispatcher's ``start_count`` until its ``slow_count`` dependency is wired; the job id.

    Right after a start or a failover the agents are still registering, and the tool answers
    "unresolved" (or its endpoint does not answer yet): that is waited out, anything else is the id.
    """
    answer: list[str] = [""]

    def probe() -> tuple[bool, str]:
        try:
            answer[0] = call_tool(dispatcher, "start_count", steps=steps, delay=delay)
        except Exception as exc:  # the agent's endpoint may still be starting
            return False, f"not answering yet ({type(exc).__name__})"
        return answer[0] != "unresolved", answer[0]

    poll(probe, "the dispatcher to submit a job", timeout, interval=1.0)
    return answer[0]
