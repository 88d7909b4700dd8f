"""One pod's life on the node: set up, start and supervise its containers, probe them, report status,
and terminate it on deletion. Each pod has its own worker thread."""

from __future__ import annotations

import copy
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labkit.cluster.node.backoff import Backoff
from labkit.cluster.node.container import ContainerProcess, now_rfc3339
from labkit.cluster.node.context import NodeContext, default_hosts
from labkit.cluster.node.envvars import ConfigError, EnvBuilder, expand_command, service_link_env
from labkit.cluster.node.images import ImagePullError, LocalImage, resolve_image
from labkit.cluster.node.probes import ProbeResult, ProbeTracker, run_probe
from labkit.cluster.node.volumes import SERVICE_ACCOUNT_DIR, PodVolumes, UnsupportedVolume, VolumeError

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
RETRY_SECONDS = 2.0
SHUTDOWN_GRACE_CAP = 10.0
VOLUME_REFRESH_SECONDS = (
    60.0  # ConfigMap/Secret/projected files follow their objects, like the kubelet's sync
)


def unsupported_features(pod: Mapping[str, Any]) -> list[str]:
    """What in the pod spec this node cannot honour (the pod then stays Pending with an event)."""
    spec = pod["spec"]
    problems = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{key}: true")
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for probe_kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(probe_kind) or {}
            if probe and not any(probe.get(k) for k in ("httpGet", "tcpSocket", "exec")):
                problems.append(
                    f"{probe_kind} of container {container['name']} (only httpGet, tcpSocket, exec)"
                )
        if (container.get("lifecycle") or {}).get("postStart"):
            problems.append(f"lifecycle.postStart of container {container['name']}")
        if (container.get("securityContext") or {}).get("privileged"):
            problems.append(f"privileged container {container['name']}")
    if spec.get("ephemeralContainers"):
        problems.append("ephemeralContainers")
    return problems


def process_identity(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """uid/gid/groups from the pod's and the container's securityContext (the container's wins).

    Images here run as root unless told otherwise, so ``runAsNonRoot`` without ``runAsUser`` is refused
    with the kubelet's message.
    """
    pod_context = pod["spec"].get("securityContext") or {}
    context = {**pod_context, **(container.get("securityContext") or {})}
    uid, gid = context.get("runAsUser"), context.get("runAsGroup")
    if context.get("runAsNonRoot") and not uid:
        raise ConfigError(
            "container has runAsNonRoot and image will run as root "
            f'(pod: "{pod["metadata"]["name"]}_{pod["metadata"]["namespace"]}", '
            f"container: {container['name']})"
        )
    if uid is None and gid is None:
        return {}
    groups = [int(g) for g in pod_context.get("supplementalGroups") or []]
    if pod_context.get("fsGroup") is not None:
        groups.append(int(pod_context["fsGroup"]))
    return {"uid": int(uid or 0), "gid": int(gid or 0), "groups": groups}


class ContainerRuntime:
    """One container of the pod across its restarts: current process, counters, probes, state."""

    def __init__(self, spec: Mapping[str, Any], backoff_base: float, restart_count: int, init: bool) -> None:
        self.spec = spec
        self.name = str(spec["name"])
        self.init = init
        self.process: ContainerProcess | None = None
        self.restart_count = restart_count
        self.instances = 0
        self.backoff = Backoff(base=backoff_base)
        self.pull_backoff = Backoff(base=backoff_base)
        self.next_start = 0.0
        self.waiting: tuple[str, str] | None = ("ContainerCreating", "")
        self.terminated: dict[str, Any] | None = None
        self.last_terminated: dict[str, Any] | None = None
        self.probes: dict[str, ProbeTracker] = {}
        self.image: LocalImage | None = None
        self.env: dict[str, str] = {}
        self.done = False
        self.log_paths: list[Path] = []

    @property
    def running(self) -> bool:
        """Whether a process is up."""
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        """Running, started (startup probe passed) and ready (readiness probe passing, if any)."""
        if not self.running or self.init:
            return False
        return all(self.probes[k].healthy for k in ("startupProbe", "readinessProbe") if k in self.probes)

    def started(self) -> bool:
        """Running and past its startup probe."""
        return self.running and ("startupProbe" not in self.probes or self.probes["startupProbe"].healthy)


class PodWorker(threading.Thread):
    """Runs one pod until it is deleted (or the agent stops)."""

    def __init__(self, ctx: NodeContext, pod: dict[str, Any]) -> None:
        super().__init__(name=f"pod-{pod['metadata']['namespace']}-{pod['metadata']['name']}", daemon=True)
        self.ctx = ctx
        self.pod = pod
        self.uid = str(pod["metadata"]["uid"])
        self.key = (str(pod["metadata"]["namespace"]), str(pod["metadata"]["name"]))
        self.dir = ctx.pod_dir(self.uid)
        reported_ip = (pod.get("status") or {}).get("podIP")
        self.pod_ip = (
            ctx.addresses.adopt(self.uid, reported_ip) if reported_ip else ctx.addresses.acquire(self.uid)
        )
        self.start_time = (pod.get("status") or {}).get("startTime") or now_rfc3339()
        self.volumes = PodVolumes(pod, self.dir, ctx.source)
        self.hosts_file = self.dir / "hosts"
        self._stop_agent = threading.Event()
        self._gone = threading.Event()
        self._wake = threading.Event()
        self._last_status: dict[str, Any] | None = None
        self._transitions: dict[str, tuple[str, str]] = {}
        self._volumes_ready = False
        self._frozen = False
        self._blocked: str | None = None
        self._volumes_refreshed = 0.0
        self.finished = threading.Event()
        statuses = {
            s["name"]: s
            for s in [
                *((pod.get("status") or {}).get("initContainerStatuses") or []),
                *((pod.get("status") or {}).get("containerStatuses") or []),
            ]
        }
        spec = pod["spec"]
        self.init_containers = [
            ContainerRuntime(
                c, ctx.backoff_base, int(statuses.get(c["name"], {}).get("restartCount") or 0), True
            )
            for c in spec.get("initContainers") or []
        ]
        self.containers = [
            ContainerRuntime(
                c, ctx.backoff_base, int(statuses.get(c["name"], {}).get("restartCount") or 0), False
            )
            for c in spec.get("containers") or []
        ]
        if self.init_containers:
            for runtime in self.containers:
                runtime.waiting = ("PodInitializing", "")
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            # Finished before this agent started: nothing runs again; status and logs stay served.
            self._frozen = True
            for runtime in [*self.init_containers, *self.containers]:
                runtime.done = True
                runtime.waiting = None
                runtime.terminated = (statuses.get(runtime.name, {}).get("state") or {}).get("terminated")
        for runtime in [*self.init_containers, *self.containers]:
            # After an agent restart: keep the earlier instances' logs for `kubectl logs -p`.
            earlier = (self.dir / "logs" / runtime.name).glob("*.log")
            runtime.log_paths = sorted(earlier, key=lambda path: int(path.stem) if path.stem.isdigit() else 0)
            runtime.instances = len(runtime.log_paths)

    # ---- signals from the agent -------------------------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        """A newer version of the pod object (from the watch)."""
        if str(pod["metadata"]["uid"]) == self.uid:
            self.pod = pod
            self._wake.set()

    def mark_gone(self) -> None:
        """The pod object was removed from the API (for example force-deleted): kill everything now."""
        self._gone.set()
        self._wake.set()

    def stop_for_shutdown(self) -> None:
        """The agent is stopping: stop the containers, leave the pod object alone."""
        self._stop_agent.set()
        self._wake.set()

    def container(self, name: str) -> ContainerRuntime | None:
        """The named container (or init container)."""
        return next((c for c in [*self.init_containers, *self.containers] if c.name == name), None)

    def log_path(self, container: str, previous: bool) -> Path | None:
        """The log file of the container's current (or previous) instance."""
        runtime = self.container(container)
        if runtime is None or not runtime.log_paths:
            return None
        if previous:
            return runtime.log_paths[-2] if len(runtime.log_paths) >= 2 else None
        return runtime.log_paths[-1]

    def refresh_hosts(self) -> None:
        """Rewrite the pod's /etc/hosts in place (a bind mount follows the inode, not the name)."""
        content = default_hosts(self.pod, self.pod_ip) + self.ctx.service_hosts(self.key[0])
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.hosts_file.exists():
            if self.hosts_file.read_text() == content:
                return
            with self.hosts_file.open("r+") as handle:
                handle.truncate(0)
                handle.write(content)
        else:
            self.hosts_file.write_text(content)

    # ---- main loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        """The worker's loop; never raises (a failing step is logged and retried)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            try:
                # Services created just before this pod resolve and answer from its first instant.
                self.ctx.sync_services()
            except Exception as exc:
                log.warning("pod %s/%s: service sync before start failed: %s", *self.key, exc)
            self.refresh_hosts()
            while True:
                if self._gone.is_set():
                    self._kill_all(0)
                    self._cleanup()
                    return
                if self._stop_agent.is_set():
                    self._kill_all(min(self._grace(), SHUTDOWN_GRACE_CAP))
                    return
                if self.pod["metadata"].get("deletionTimestamp"):
                    self._terminate_and_delete()
                    return
                try:
                    self._sync()
                except ApiException as exc:
                    if exc.status == 404:
                        self._gone.set()
                        continue
                    log.warning("pod %s/%s: API error %s %s %s", *self.key, exc.status, exc.reason, exc.body)
                    self._wake.wait(RETRY_SECONDS)
                except Exception:
                    log.exception("pod %s/%s: sync failed", *self.key)
                self._wake.wait(TICK_SECONDS)
                self._wake.clear()
        finally:
            self.finished.set()

    def _grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds")
        return float(30 if grace is None else grace)

    def _sync(self) -> None:
        if self._frozen:
            return
        if self._blocked is None:
            problems = unsupported_features(self.pod) + self.volumes.unsupported()
            if problems:
                self._blocked = "not supported by the labkit node: " + "; ".join(problems)
                self.ctx.events.pod_event(self.pod, "FailedCreatePodSandBox", self._blocked, warning=True)
                for runtime in [*self.init_containers, *self.containers]:
                    runtime.waiting = ("CreateContainerConfigError", self._blocked)
            else:
                self._blocked = ""
        if self._blocked:
            self._write_status()
            return
        if not self._volumes_ready or time.monotonic() - self._volumes_refreshed > VOLUME_REFRESH_SECONDS:
            self._setup_volumes()
        if self._volumes_ready and not self._init_failed():
            if all(c.done for c in self.init_containers):
                for runtime in self.containers:
                    self._drive(runtime)
            else:
                runtime = next(c for c in self.init_containers if not c.done)
                self._drive(runtime)
        self._write_status()

    def _setup_volumes(self) -> None:
        self._volumes_refreshed = time.monotonic()
        try:
            self.volumes.setup()
        except UnsupportedVolume as exc:
            self._blocked = str(exc)
            self.ctx.events.pod_event(self.pod, "FailedMount", str(exc), warning=True)
            for runtime in [*self.init_containers, *self.containers]:
                runtime.waiting = ("CreateContainerConfigError", str(exc))
            return
        except VolumeError as exc:
            if not self._volumes_ready:
                self.ctx.events.pod_event(
                    self.pod, "FailedMount", f"MountVolume.SetUp failed {exc}", warning=True
                )
                self._write_status()  # ContainerCreating is visible with the event, not a retry later
                self._wake.wait(RETRY_SECONDS)
            return
        self._volumes_ready = True
        self._volumes_refreshed = time.monotonic()

    # ---- one container ------------------------------------------------------------------------------

    def _drive(self, runtime: ContainerRuntime) -> None:
        if runtime.process is not None and runtime.process.poll() is not None and not runtime.terminated:
            self._on_exit(runtime)
        if runtime.running:
            self._probe(runtime)
            return
        if runtime.done or time.monotonic() < runtime.next_start:
            return
        self._start(runtime)

    def _on_exit(self, runtime: ContainerRuntime) -> None:
        process = runtime.process
        assert process is not None
        code = process.poll()
        start_error = process.start_error()
        reason = "StartError" if start_error else ("Completed" if code == 0 else "Error")
        runtime.terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": process.started_at,
            "finishedAt": process.finished_at,
            "containerID": f"labkit://{self.uid}/{runtime.name}/{runtime.instances}",
            **({"message": start_error} if start_error else {}),
        }
        policy = str(self.pod["spec"].get("restartPolicy") or "Always")
        if runtime.init and policy == "Always":
            policy = "OnFailure"
        restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if runtime.init and code == 0:
            runtime.done = True
            return
        if not restart:
            runtime.done = True
            return
        delay = runtime.backoff.record_exit(process.ran_for())
        runtime.next_start = time.monotonic() + delay
        if delay > 0:
            pod_ref = f"{self.key[1]}_{self.key[0]}({self.uid})"
            runtime.waiting = (
                "CrashLoopBackOff",
                f"back-off {delay:g}s restarting failed container={runtime.name} pod={pod_ref}",
            )
            self.ctx.events.pod_event(
                self.pod,
                "BackOff",
                "Back-off restarting failed container",
                warning=True,
                container=runtime.name,
            )

    def _start(self, runtime: ContainerRuntime) -> None:
        spec = runtime.spec
        image = str(spec.get("image") or "")
        try:
            runtime.image = resolve_image(spec, self.pod_ip)
        except ImagePullError as exc:
            self._pull_failed(runtime, exc)
            return
        runtime.pull_backoff.reset()
        try:
            env = self._environment(runtime)
            argv = runtime.image.argv(
                expand_command(spec.get("command"), env), expand_command(spec.get("args"), env)
            )
            mounts = [
                {"source": m.source, "target": m.target, "readonly": m.readonly}
                for m in self.volumes.mounts(spec)
            ]
            identity = process_identity(self.pod, spec)
        except (ConfigError, VolumeError) as exc:
            runtime.waiting = ("CreateContainerConfigError", str(exc))
            self.ctx.events.pod_event(
                self.pod, "Failed", f"Error: {exc}", warning=True, container=runtime.name
            )
            runtime.next_start = time.monotonic() + RETRY_SECONDS
            return
        if runtime.instances == 0:
            self.ctx.events.pod_event(
                self.pod,
                "Pulled",
                f'Container image "{image}" already present on machine',
                container=runtime.name,
            )
        if runtime.process is not None:
            runtime.last_terminated = runtime.terminated
            runtime.restart_count += 1
        mounts.append({"source": str(self.hosts_file), "target": "/etc/hosts", "readonly": False})
        for private in runtime.image.private_dirs:
            if self.ctx.isolate:
                source = self.dir / "private" / runtime.name / private.strip("/").replace("/", "_")
                source.mkdir(parents=True, exist_ok=True)
                mounts.append({"source": str(source), "target": private, "readonly": False})
            else:
                env["LABKIT_NO_PRIVATE_DIRS"] = "1"
        runtime.instances += 1
        log_path = self.dir / "logs" / runtime.name / f"{runtime.instances}.log"
        runtime.log_paths.append(log_path)
        sandbox_spec = {
            "argv": argv,
            "env": env,
            "workdir": spec.get("workingDir") or "/",
            "hostname": self.pod["spec"].get("hostname") or self.key[1],
            "isolate": self.ctx.isolate,
            "mounts": mounts,
            **identity,
        }
        self.ctx.events.pod_event(
            self.pod, "Created", f"Created container {runtime.name}", container=runtime.name
        )
        runtime.process = ContainerProcess(sandbox_spec, self.dir / f"{runtime.name}.spec.json", log_path)
        runtime.terminated = None
        runtime.waiting = None
        runtime.env = env
        started = runtime.process.started_monotonic
        runtime.probes = {}
        for kind, initial in (("startupProbe", False), ("livenessProbe", True), ("readinessProbe", False)):
            if spec.get(kind):
                runtime.probes[kind] = ProbeTracker(kind, spec[kind], started, initial)
        self.ctx.events.pod_event(
            self.pod, "Started", f"Started container {runtime.name}", container=runtime.name
        )

    def _pull_failed(self, runtime: ContainerRuntime, exc: ImagePullError) -> None:
        image = str(runtime.spec.get("image") or "")
        if exc.reason == "ErrImageNeverPull":
            self.ctx.events.pod_event(
                self.pod, "ErrImageNeverPull", exc.message, warning=True, container=runtime.name
            )
            runtime.waiting = ("ErrImageNeverPull", exc.message)
            runtime.next_start = time.monotonic() + RETRY_SECONDS
            return
        self.ctx.events.pod_event(self.pod, "Pulling", f'Pulling image "{image}"', container=runtime.name)
        self.ctx.events.pod_event(self.pod, "Failed", exc.message, warning=True, container=runtime.name)
        self.ctx.events.pod_event(
            self.pod, "Failed", "Error: ErrImagePull", warning=True, container=runtime.name
        )
        delay = max(runtime.pull_backoff.base, runtime.pull_backoff.record_exit(0.0))
        runtime.waiting = ("ErrImagePull", exc.message)
        self._write_status()
        # After a moment in ErrImagePull the kubelet shows ImagePullBackOff until the next attempt.
        self._wake.wait(1.0)
        runtime.waiting = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
        self.ctx.events.pod_event(
            self.pod, "BackOff", f'Back-off pulling image "{image}"', container=runtime.name
        )
        self.ctx.events.pod_event(
            self.pod, "Failed", "Error: ImagePullBackOff", warning=True, container=runtime.name
        )
        runtime.next_start = time.monotonic() + delay

    def _environment(self, runtime: ContainerRuntime) -> dict[str, str]:
        assert runtime.image is not None
        pod = copy.deepcopy(self.pod)
        pod.setdefault("status", {}).update(
            {"podIP": self.pod_ip, "podIPs": [{"ip": self.pod_ip}], "hostIP": self.ctx.host_ip}
        )
        pod["spec"].setdefault("nodeName", self.ctx.node_name)
        namespace = self.key[0]
        links: dict[str, str] = {}
        if self.pod["spec"].get("enableServiceLinks", True):
            links = service_link_env(self.ctx.source.services(namespace))
        api_host, api_port = self.ctx.source.server_address()
        links.update(
            {
                "KUBERNETES_SERVICE_HOST": api_host,
                "KUBERNETES_SERVICE_PORT": str(api_port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(api_port),
                "KUBERNETES_PORT": f"tcp://{api_host}:{api_port}",
            }
        )
        builder = EnvBuilder(
            pod, self.ctx.source, service_env=links, node_allocatable=self.ctx.node_allocatable
        )
        env = {"PATH": runtime.image.path, "HOSTNAME": self.key[1], "HOME": "/root"}
        env.update(builder.build(runtime.spec))
        for warning in builder.warnings:
            self.ctx.events.pod_event(self.pod, "InvalidEnvironmentVariableNames", warning, warning=True)
        env.update(runtime.image.forced_env)
        env.update({"KUBERNETES_SERVICE_HOST": api_host, "KUBERNETES_SERVICE_PORT": str(api_port)})
        token_dir = self.volumes.token_dir(runtime.spec)
        if token_dir is not None:
            env["KUBERNETES_SERVICE_ACCOUNT_DIR"] = SERVICE_ACCOUNT_DIR if self.ctx.isolate else token_dir
        return env

    # ---- probes -----------------------------------------------------------------------------------

    def _probe(self, runtime: ContainerRuntime) -> None:
        process = runtime.process
        assert process is not None
        startup = runtime.probes.get("startupProbe")
        kinds = (
            ["startupProbe"]
            if startup is not None and not startup.healthy
            else ["livenessProbe", "readinessProbe"]
        )
        for kind in kinds:
            tracker = runtime.probes.get(kind)
            if tracker is None or not tracker.due():
                continue
            result = run_probe(
                tracker.probe, self.pod_ip, runtime.spec, lambda cmd, t: self._exec(runtime, cmd, t)
            )
            if runtime.process is not process or process.poll() is not None:
                return
            tracker.record(result)
            if not result.ok:
                label = {
                    "startupProbe": "Startup",
                    "livenessProbe": "Liveness",
                    "readinessProbe": "Readiness",
                }[kind]
                self.ctx.events.pod_event(
                    self.pod,
                    "Unhealthy",
                    f"{label} probe failed: {result.message}",
                    warning=True,
                    container=runtime.name,
                )
                if kind != "readinessProbe" and not tracker.healthy:
                    self._kill_for_probe(runtime, label.lower())
                    return

    def _kill_for_probe(self, runtime: ContainerRuntime, label: str) -> None:
        process = runtime.process
        assert process is not None
        self.ctx.events.pod_event(
            self.pod,
            "Killing",
            f"Container {runtime.name} failed {label} probe, will be restarted",
            container=runtime.name,
        )
        grace = self.pod["spec"].get("terminationGracePeriodSeconds")
        self._stop_container(runtime, float(30 if grace is None else grace))
        self._on_exit(runtime)

    def _exec(self, runtime: ContainerRuntime, command: list[str], timeout: float) -> tuple[int, str]:
        process = runtime.process
        if not command:
            return (1, "exec probe without a command")
        argv = command
        if self.ctx.isolate and process is not None:
            argv = ["nsenter", "-t", str(process.pid), "-m", "-u", "--", *command]
        try:
            done = subprocess.run(
                argv, env=runtime.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(str(exc)) from exc
        except OSError as exc:
            return (126, str(exc))
        return (done.returncode, (done.stdout + done.stderr)[-1024:])

    # ---- status -----------------------------------------------------------------------------------

    def _container_status(self, runtime: ContainerRuntime) -> dict[str, Any]:
        state: dict[str, Any]
        if runtime.running:
            assert runtime.process is not None
            state = {"running": {"startedAt": runtime.process.started_at}}
        elif runtime.waiting is not None and not runtime.done:
            reason, message = runtime.waiting
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        elif runtime.terminated is not None:
            state = {"terminated": runtime.terminated}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        status: dict[str, Any] = {
            "name": runtime.name,
            "image": runtime.spec.get("image"),
            "imageID": runtime.image.image_id if runtime.image else "",
            "ready": runtime.ready()
            if not runtime.init
            else bool(runtime.done and runtime.terminated and runtime.terminated["exitCode"] == 0),
            "restartCount": runtime.restart_count,
            "state": state,
            "lastState": {"terminated": runtime.last_terminated} if runtime.last_terminated else {},
        }
        if not runtime.init:
            status["started"] = runtime.started()
        if runtime.instances:
            status["containerID"] = f"labkit://{self.uid}/{runtime.name}/{runtime.instances}"
        return status

    def _init_failed(self) -> bool:
        """An init container failed for good (restartPolicy Never): the pod has failed."""
        return any(
            c.done and c.terminated is not None and c.terminated["exitCode"] != 0
            for c in self.init_containers
        )

    def _phase(self) -> str:
        policy = str(self.pod["spec"].get("restartPolicy") or "Always")
        if self._init_failed():
            return "Failed"
        if not all(c.done for c in self.init_containers):
            return "Pending"
        if any(c.process is None and c.instances == 0 for c in self.containers):
            return "Pending"
        if any(c.running for c in self.containers):
            return "Running"
        if policy == "Always" or not all(c.done for c in self.containers):
            return "Running"
        succeeded = all(c.terminated and c.terminated["exitCode"] == 0 for c in self.containers)
        return "Succeeded" if succeeded else "Failed"

    def _condition(self, kind: str, ok: bool, reason: str = "") -> dict[str, Any]:
        status = "True" if ok else "False"
        previous = self._transitions.get(kind)
        if previous is None or previous[0] != status:
            existing = next(
                (c for c in (self.pod.get("status") or {}).get("conditions") or [] if c.get("type") == kind),
                None,
            )
            if previous is None and existing is not None and existing.get("status") == status:
                stamp = str(existing.get("lastTransitionTime") or now_rfc3339())
            else:
                stamp = now_rfc3339()
            self._transitions[kind] = (status, stamp)
        condition: dict[str, Any] = {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": self._transitions[kind][1],
        }
        if not ok and reason:
            condition["reason"] = reason
        return condition

    def status(self) -> dict[str, Any]:
        """The pod status this node reports right now."""
        initialized = all(c.done for c in self.init_containers) and not self._init_failed()
        containers_ready = initialized and all(c.ready() for c in self.containers)
        not_ready = [c.name for c in self.containers if not c.ready()]
        reason = "ContainersNotReady" if not_ready else ""
        status: dict[str, Any] = {
            "phase": self._phase(),
            "hostIP": self.ctx.host_ip,
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": self.start_time,
            "conditions": [
                self._condition("Initialized", initialized, "ContainersNotInitialized"),
                self._condition("Ready", containers_ready, reason),
                self._condition("ContainersReady", containers_ready, reason),
            ],
            "containerStatuses": [self._container_status(c) for c in self.containers],
        }
        if self.init_containers:
            status["initContainerStatuses"] = [self._container_status(c) for c in self.init_containers]
        if self._blocked:
            status["reason"] = "UnsupportedByLabkitNode"
            status["message"] = self._blocked
        return status

    def _write_status(self, force: bool = False) -> None:
        if self._frozen:
            return
        status = self.status()
        if status == self._last_status and not force:
            return
        # The uid makes the API refuse (422) a late write onto a new pod of the same name (grace 0 deletes).
        body = {"metadata": {"uid": self.uid}, "status": status}
        self.ctx.core.patch_namespaced_pod_status(self.key[1], self.key[0], body)
        self._last_status = status

    # ---- termination ------------------------------------------------------------------------------

    def _kill_all(self, grace: float) -> None:
        running = [c for c in [*self.init_containers, *self.containers] if c.running]
        threads = []
        for runtime in running:
            assert runtime.process is not None
            thread = threading.Thread(target=self._stop_container, args=(runtime, grace), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        for runtime in running:
            self._record_final_exit(runtime)

    def _stop_container(self, runtime: ContainerRuntime, grace: float) -> None:
        """Run the preStop hook (within the grace period), then SIGTERM, then SIGKILL when it runs out."""
        process = runtime.process
        assert process is not None
        started = time.monotonic()
        hook = (runtime.spec.get("lifecycle") or {}).get("preStop")
        if hook and process.poll() is None:
            result = self._run_hook(runtime, hook, max(grace, 1.0))
            if not result.ok:
                self.ctx.events.pod_event(
                    self.pod,
                    "FailedPreStopHook",
                    f"PreStopHook failed: {result.message}",
                    warning=True,
                    container=runtime.name,
                )
        process.stop(max(0.0, grace - (time.monotonic() - started)))

    def _run_hook(self, runtime: ContainerRuntime, hook: Mapping[str, Any], timeout: float) -> ProbeResult:
        if hook.get("sleep"):
            time.sleep(min(timeout, float(hook["sleep"].get("seconds") or 0)))
            return ProbeResult(True)
        probe = {**hook, "timeoutSeconds": timeout}
        return run_probe(probe, self.pod_ip, runtime.spec, lambda cmd, t: self._exec(runtime, cmd, t))

    def _record_final_exit(self, runtime: ContainerRuntime) -> None:
        process = runtime.process
        assert process is not None
        code = process.poll()
        runtime.terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": process.started_at,
            "finishedAt": process.finished_at or now_rfc3339(),
            "containerID": f"labkit://{self.uid}/{runtime.name}/{runtime.instances}",
        }
        runtime.done = True

    def _terminate_and_delete(self) -> None:
        grace = self._grace()
        for runtime in [*self.init_containers, *self.containers]:
            if runtime.running:
                self.ctx.events.pod_event(
                    self.pod, "Killing", f"Stopping container {runtime.name}", container=runtime.name
                )
        self._kill_all(grace)
        try:
            self._write_status(force=True)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("pod %s/%s: final status not written: %s %s", *self.key, exc.reason, exc.body)
        try:
            self.ctx.core.delete_namespaced_pod(
                self.key[1],
                self.key[0],
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=self.uid)
                ),
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                log.warning("pod %s/%s: delete failed: %s", *self.key, exc.reason)
        self._cleanup()

    def _cleanup(self) -> None:
        self.ctx.addresses.release(self.uid)
        self.ctx.events.forget(self.uid)
        shutil.rmtree(self.dir, ignore_errors=True)
