"""The node agent process: register the node, keep it alive, run the pods bound to it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from labkit.cluster.node.addresses import AddressPool
from labkit.cluster.node.backoff import DEFAULT_BASE_SECONDS
from labkit.cluster.node.context import NodeContext
from labkit.cluster.node.events import EventRecorder
from labkit.cluster.node.kube import ApiSource, load_api_client, to_dict
from labkit.cluster.node.logserver import LogLookupError, LogServer, LogTarget, self_signed_certificate
from labkit.cluster.node.node import NodeRegistration
from labkit.cluster.node.pod_worker import PodWorker
from labkit.cluster.node.services import ServiceProxies
from labkit.cluster.processes import read_record, stop_process

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
RESYNC_SECONDS = 30.0
WATCH_TIMEOUT_SECONDS = 60


@dataclass
class AgentConfig:
    """How the agent was started (command line and environment)."""

    kubeconfig: str
    state_dir: Path
    node_name: str
    host_ip: str = "127.0.0.1"
    kubelet_port: int = 0
    backoff_base: float = DEFAULT_BASE_SECONDS
    isolate: bool = True
    serving_cert: Path | None = None
    serving_key: Path | None = None
    client_ca: Path | None = None


def can_isolate() -> bool:
    """Per-container mount namespaces need root (CAP_SYS_ADMIN); LABKIT_NODE_ISOLATE=0 turns them off."""
    if os.environ.get("LABKIT_NODE_ISOLATE", "1") == "0":
        return False
    return os.geteuid() == 0


def stop_leftovers(state_dir: Path) -> int:
    """Stop container processes a previous, crashed agent left running (recorded pid + start time)."""
    stopped = 0
    for pid_file in (state_dir / "pods").glob("*/*.pid"):
        record = read_record(pid_file)
        if record is not None and record.start_time is not None and stop_process(record, grace_seconds=2.0):
            stopped += 1
        pid_file.unlink(missing_ok=True)
    return stopped


class NodeAgent:
    """labkit's kubelet: one Node, its Lease, and a worker thread per pod bound to it."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.api = load_api_client(config.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.source = ApiSource(self.api)
        self.workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()
        self.proxies = ServiceProxies(self.api, self.refresh_hosts)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        leftovers = stop_leftovers(config.state_dir)
        if leftovers:
            log.info("stopped %d container processes left by a previous run", leftovers)
        self.ctx = NodeContext(
            node_name=config.node_name,
            host_ip=config.host_ip,
            state_dir=config.state_dir,
            core=self.core,
            source=self.source,
            events=EventRecorder(self.core, config.node_name),
            addresses=AddressPool(config.state_dir / "pod-addresses.json"),
            isolate=config.isolate,
            backoff_base=config.backoff_base,
            service_hosts=self.proxies.hosts_for,
            sync_services=self.proxies.sync,
        )
        cert, key = config.serving_cert, config.serving_key
        if cert is None or key is None or not cert.exists() or not key.exists():
            cert, key = self_signed_certificate(config.state_dir / "pki", config.host_ip)
        self.log_server = LogServer(
            config.host_ip, config.kubelet_port, self.find_log, cert, key, config.client_ca
        )
        self.registration = NodeRegistration(
            self.api, config.node_name, config.host_ip, self.log_server.port, config.state_dir
        )
        self.ctx.node_allocatable = dict(self.registration.capacity)

    # ---- lifecycle ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; then stop every container and return 0."""
        self.log_server.start()
        self._register()
        log.info(
            "node %s registered (InternalIP %s, log port %d, isolation %s)",
            self.config.node_name,
            self.config.host_ip,
            self.log_server.port,
            "mount+uts namespaces" if self.config.isolate else "off",
        )
        self.proxies.start()
        threading.Thread(target=self._watch_pods, name="pod-watch", daemon=True).start()
        last_resync = time.monotonic()
        while not self.stop_event.wait(HEARTBEAT_SECONDS):
            try:
                self.registration.heartbeat()
                self.registration.renew_lease()
            except ApiException as exc:
                if exc.status == 404:  # someone deleted the Node: register again, as the kubelet does
                    log.warning("node object is gone: registering again")
                    with contextlib.suppress(Exception):
                        self._register(attempts=1)
                else:
                    log.warning("node heartbeat failed: %s %s", exc.status, exc.reason)
            except Exception as exc:
                log.warning("node heartbeat failed: %s", exc)
            if time.monotonic() - last_resync > RESYNC_SECONDS:
                last_resync = time.monotonic()
                try:
                    self._resync()
                except Exception as exc:
                    log.warning("pod resync failed: %s", exc)
        self._shutdown()
        return 0

    def _register(self, attempts: int = 60) -> None:
        """Register the node, retrying while the API server is still coming up."""
        for attempt in range(attempts):
            try:
                self.registration.register()
                self.registration.renew_lease()
                return
            except Exception as exc:
                if attempt == attempts - 1 or self.stop_event.is_set():
                    raise
                log.warning("node registration failed (%s), retrying", exc)
                self.stop_event.wait(1.0)

    def request_stop(self, *_: Any) -> None:
        """Signal handler: stop the agent."""
        self.stop_event.set()

    def _shutdown(self) -> None:
        log.info("stopping: terminating every pod's containers")
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stop_for_shutdown()
        for worker in workers:
            worker.finished.wait(15)
        self.proxies.stop()
        self.log_server.shutdown()

    # ---- pods --------------------------------------------------------------------------------------

    def _selector(self) -> str:
        return f"spec.nodeName={self.config.node_name}"

    def _resync(self) -> str:
        pods = self.core.list_pod_for_all_namespaces(field_selector=self._selector())
        seen = set()
        for pod in pods.items:
            data = to_dict(self.api, pod)
            seen.add(data["metadata"]["uid"])
            self._on_pod(data)
        with self._lock:
            for uid, worker in list(self.workers.items()):
                if uid not in seen:
                    worker.mark_gone()
        meta: Any = pods.metadata
        return str(meta.resource_version)

    def _watch_pods(self) -> None:
        while not self.stop_event.is_set():
            try:
                version = self._resync()
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=self._selector(),
                    resource_version=version,
                    timeout_seconds=WATCH_TIMEOUT_SECONDS,
                )
                for event in stream:
                    if self.stop_event.is_set():
                        return
                    data = to_dict(self.api, event["object"])
                    if event["type"] == "DELETED":
                        with self._lock:
                            worker = self.workers.get(data["metadata"]["uid"])
                        if worker is not None:
                            worker.mark_gone()
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._on_pod(data)
            except ApiException as exc:
                if exc.status != 410:
                    log.warning("pod watch failed: %s %s", exc.status, exc.reason)
                    self.stop_event.wait(1)
            except Exception as exc:
                log.warning("pod watch failed: %s", exc)
                self.stop_event.wait(1)

    def _on_pod(self, pod: dict[str, Any]) -> None:
        if self.stop_event.is_set():
            return
        uid = pod["metadata"]["uid"]
        with self._lock:
            for key in [k for k, w in self.workers.items() if w.finished.is_set()]:
                del self.workers[key]
            worker = self.workers.get(uid)
            if worker is not None:
                worker.update(pod)
                return
            worker = PodWorker(self.ctx, pod)
            self.workers[uid] = worker
        worker.start()

    def refresh_hosts(self) -> None:
        """Services changed: rewrite every pod's /etc/hosts."""
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            try:
                worker.refresh_hosts()
            except OSError as exc:
                log.warning("hosts file of %s/%s: %s", *worker.key, exc)

    # ---- logs --------------------------------------------------------------------------------------

    def find_log(self, namespace: str, pod: str, container: str, previous: bool) -> LogTarget:
        """The log file ``kubectl logs`` asks for (LogLookupError with kubectl's wording otherwise)."""
        with self._lock:
            candidates = [w for w in self.workers.values() if w.key == (namespace, pod)]
        live = [w for w in candidates if not w.finished.is_set()] or candidates
        if not live:
            raise LogLookupError(f'pod "{pod}" in namespace "{namespace}" not found on node')
        worker = live[-1]
        runtime = worker.container(container)
        if runtime is None:
            raise LogLookupError(f'container "{container}" in pod "{pod}" is not available')
        path = worker.log_path(container, previous)
        if path is None:
            if previous:
                raise LogLookupError(f'previous terminated container "{container}" in pod "{pod}" not found')
            reason = runtime.waiting[0] if runtime.waiting else "ContainerCreating"
            raise LogLookupError(f'container "{container}" in pod "{pod}" is waiting to start: {reason}')
        instance = runtime.process

        def running() -> bool:
            return (
                not previous
                and runtime.process is instance
                and runtime.log_paths[-1] == path
                and runtime.running
            )

        return LogTarget(path, running)


def install_signal_handlers(agent: NodeAgent) -> None:
    """SIGTERM and SIGINT stop the agent (and its pods) cleanly."""
    signal.signal(signal.SIGTERM, agent.request_stop)
    signal.signal(signal.SIGINT, agent.request_stop)
