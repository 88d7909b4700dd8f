"""``LocalCluster``: start, inspect and stop the local control plane and its node, by recorded pids.

The node is a real kubelet with containerd and kube-proxy (see ``labkit.cluster.kubelet``).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from labkit.cluster import addons, components
from labkit.cluster.addresses import AddressBlock, claim_block
from labkit.cluster.binaries import Binary, ensure_binaries, user_bin_dir
from labkit.cluster.builder.logged import tail
from labkit.cluster.components import COMPONENT_ORDER, HOST, Ports, StateLayout
from labkit.cluster.errors import ClusterError
from labkit.cluster.health import client_context, http_ok, insecure_context, wait_until
from labkit.cluster.kubeconfig import write_kubeconfig
from labkit.cluster.kubelet.network import NodeNetwork
from labkit.cluster.kubelet.node import KubeletNode
from labkit.cluster.kubelet.tools import check_host
from labkit.cluster.locks import exclusive_lock
from labkit.cluster.paths import cache_root, default_state_dir
from labkit.cluster.pki import NODE_NAME, Pki, create_pki
from labkit.cluster.ports import free_ports, port_is_free, require_free
from labkit.cluster.processes import ProcessRecord, is_alive, read_record, start_process, stop_process
from labkit.cluster.status import ClusterInfo, ClusterStatus, ComponentStatus

STOP_GRACE = {"node": 30.0}  # the kubelet stops its pods first; the others stop in a few seconds
HOSTPATH_PV_ROOT = "/tmp/hostpath_pv/"  # where the built-in host-path provisioner puts volumes
NODE_KIND = "kubelet"  # what cluster.json records; older kits also made "agent" clusters
NODE_PACKAGES = ("labkit.cluster.kubelet", "labkit.cluster.images")


class _Progress:
    """A step-counting tqdm bar when progress is wanted, silence otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="labkit cluster up", unit="step")

    def step(self, description: str) -> None:
        """Count one finished step, named in the bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(f"{description} ✓")
            self._bar.update(1)

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(f"labkit: {message}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class LocalCluster:
    """The local Kubernetes cluster: real etcd, kube-apiserver, controller-manager and scheduler on
    127.0.0.1, plus a real kubelet node, with their state (pids, logs, data, kubeconfig) in ``state_dir``.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        bin_dir: str | os.PathLike[str] | None = None,
        api_port: int | None = None,
        node_name: str = NODE_NAME,
    ) -> None:
        if api_port is not None and (isinstance(api_port, bool) or not isinstance(api_port, int)):
            raise ClusterError(f"api_port must be an integer port number, not {api_port!r}")
        self.state_dir = Path(state_dir).expanduser() if state_dir is not None else default_state_dir()
        self.bin_dir = user_bin_dir(bin_dir)
        self.api_port = api_port
        self.node_name = node_name
        self.layout = StateLayout(self.state_dir)

    def __repr__(self) -> str:
        return f"LocalCluster(state_dir={str(self.state_dir)!r})"

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig (context ``labkit``); written by ``up``, never merged into ~/.kube/config."""
        return self.layout.kubeconfig

    # ----------------------------------------------------------------------------------- inspection

    def _saved(self) -> dict[str, Any]:
        try:
            data = json.loads(self.layout.cluster_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _saved_ports(self) -> Ports | None:
        ports = self._saved().get("ports")
        try:
            return Ports(**ports) if isinstance(ports, dict) else None
        except TypeError:
            return None

    def _records(self) -> dict[str, ProcessRecord | None]:
        return {name: read_record(self.layout.pid_file(name)) for name in COMPONENT_ORDER}

    def status(self) -> ClusterStatus:
        """Each component's recorded pid, port and whether it is alive, plus where the API answers."""
        ports = self._saved_ports()
        statuses = []
        for name, record in self._records().items():
            statuses.append(
                ComponentStatus(
                    name=name,
                    pid=record.pid if record else None,
                    port=ports.of(name) if ports else None,
                    alive=bool(record and is_alive(record)),
                    log=self.layout.log(name),
                )
            )
        server = f"https://{HOST}:{ports.apiserver}" if ports else None
        return ClusterStatus(self.state_dir, self.kubeconfig_path, server, tuple(statuses))

    def _api_ready(self, ports: Ports) -> tuple[bool, str]:
        pki = self.layout.pki
        try:
            context = client_context(pki.ca_cert, pki.client_cert("admin"), pki.client_key("admin"))
        except (OSError, ValueError) as error:
            return False, f"cannot read the admin certificate: {error}"
        return http_ok(f"https://{HOST}:{ports.apiserver}/readyz", context)

    def is_running(self) -> bool:
        """Whether every recorded component runs and the API server answers ready."""
        ports = self._saved_ports()
        return ports is not None and self.status().running and self._api_ready(ports)[0]

    # ------------------------------------------------------------------------------------ lifecycle

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.layout.lock_file)

    def up(self, progress: bool = True, with_node: bool = True, timeout: float = 180.0) -> ClusterInfo:
        """Start the cluster unless it already runs; wait until the API answers, the default
        ServiceAccount exists and (``with_node``) the node is Ready. Idempotent.
        """
        started = time.monotonic()
        if with_node:
            check_host()  # before anything starts: one line naming what the machine lacks
        self._require_kubelet_state()
        with self._locked():
            status = self.status()
            ports = self._saved_ports()
            if ports and status.control_plane_alive and self._api_ready(ports)[0]:
                return self._complete(status, ports, with_node, timeout, started)
            return self._start(status, progress, with_node, timeout, started)

    def _complete(
        self, status: ClusterStatus, ports: Ports, with_node: bool, timeout: float, since: float
    ) -> ClusterInfo:
        """The control plane runs: start the node if it is wanted and not running, then wait."""
        recovered: tuple[str, ...] = ()
        node = status.component("node")
        if with_node and node.alive and self._node_code_changed():
            recovered = ("the node's code changed since it started; restarting it",)
            self._stop_component("node")
        elif with_node and node.alive and not self._helpers_alive():
            recovered = ("a process of the kubelet node was not running; restarting the node",)
            self._stop_component("node")
        elif with_node and node.pid is not None and not node.alive:
            recovered = (f"stale state: node (pid {node.pid}) was not running; restarting it",)
            self._stop_node_leftovers()
        launched = with_node and (bool(recovered) or not node.alive)
        if launched:
            self._launch_node(ports, timeout)
        if with_node:
            try:
                self._wait_node(timeout)
            except ClusterError:
                if launched:
                    self._stop_component("node")
                raise
        return self._info(ports, started=launched, since=since, recovered=recovered)

    def _start(
        self, status: ClusterStatus, progress: bool, with_node: bool, timeout: float, since: float
    ) -> ClusterInfo:
        recovered = self._recover(status)
        bar = _Progress(progress, total=8 if with_node else 7)
        try:
            for message in recovered:
                bar.note(message)
            binaries = ensure_binaries(self.bin_dir, progress=progress)
            bar.step("binaries")
            block = self._claim_addresses()
            network = NodeNetwork(block.index)
            pki = create_pki(self.layout.pki.directory, network.kubernetes_service_ip, (network.host_ip,))
            ports = self._choose_ports()
            self._write_files(pki, ports, binaries, block)
            bar.step("certificates and kubeconfigs")
            self._start_control_plane(binaries, ports, block, bar, timeout)
            api = addons.api_client(self.kubeconfig_path)
            addons.ensure_storage_class(api)
            bar.step("StorageClass standard")
            if with_node:
                self._launch_node(ports, timeout)
            wait_until(
                lambda: addons.default_service_account_ready(api),
                "the default ServiceAccount",
                timeout,
                self._dead_component,
            )
            bar.step("default ServiceAccount")
            if with_node:
                self._wait_node(timeout)
                bar.step("node Ready")
        except BaseException:
            bar.close()
            self._stop_all()
            raise
        bar.close()
        info = self._info(ports, started=True, since=since, binaries=binaries, recovered=recovered)
        return info

    def _recover(self, status: ClusterStatus) -> tuple[str, ...]:
        """Stop what a crashed or partial run left alive and clear its pid files; say what was found."""
        found = []
        for component in status.components:
            if component.pid is not None and not component.alive:
                found.append(
                    f"stale state: {component.name} (pid {component.pid}) was not running; restarting"
                )
        if any(component.alive for component in status.components):
            found.append("a partial cluster was running; restarting it")
        self._stop_all()
        return tuple(found)

    def _address_block(self) -> AddressBlock | None:
        index = self._saved().get("address_block")
        return AddressBlock(index) if isinstance(index, int) else None

    def _claim_addresses(self) -> AddressBlock:
        """This cluster's loopback ranges: the ones it had before, else a free block (0 for the default)."""
        previous = self._address_block()
        if previous is not None:
            preferred: int | None = previous.index
        else:
            preferred = 0 if self.state_dir.resolve() == default_state_dir().resolve() else None
        return claim_block(self.state_dir, cache_root() / "clusters", preferred)

    def _choose_ports(self) -> Ports:
        """The previous run's ports when they are all free (the kubeconfig stays valid), else new ones."""
        if self.api_port is not None:
            require_free(self.api_port, "kube-apiserver")
        saved = self._saved_ports()
        reusable = saved is not None and self.api_port in (None, saved.apiserver)
        if saved is not None and reusable and all(port_is_free(port) for port in saved.as_dict().values()):
            return saved
        etcd_client, etcd_peer, apiserver, controller_manager, scheduler = free_ports(5)
        return Ports(
            etcd_client=etcd_client,
            etcd_peer=etcd_peer,
            apiserver=self.api_port if self.api_port is not None else apiserver,
            controller_manager=controller_manager,
            scheduler=scheduler,
        )

    def _write_files(self, pki: Pki, ports: Ports, binaries: dict[str, Binary], block: AddressBlock) -> None:
        server = f"https://{HOST}:{ports.apiserver}"
        write_kubeconfig(
            self.kubeconfig_path, server, pki.ca_cert, pki.client_cert("admin"), pki.client_key("admin")
        )
        for component, stem in (
            ("kube-controller-manager", "controller-manager"),
            ("kube-scheduler", "scheduler"),
            ("node", "node"),
        ):
            path = self.layout.component_kubeconfig(component)
            write_kubeconfig(path, server, pki.ca_cert, pki.client_cert(stem), pki.client_key(stem))
        network = NodeNetwork(block.index)
        saved = {
            "ports": ports.as_dict(),
            "server": server,
            "address_block": block.index,
            "service_cidr": network.service_cidr,
            "pod_cidr": network.pod_cidr,
            "node_name": self.node_name,
            "node": NODE_KIND,
            "binaries": {name: str(binary.path) for name, binary in binaries.items()},
        }
        self.layout.cluster_file.write_text(json.dumps(saved, indent=2))

    def _launch(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ProcessRecord:
        log = self.layout.log(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(f"\n==== labkit started {name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode())
        return start_process(argv, log, self.layout.pid_file(name), env)

    def _dead_component(self) -> str | None:
        """A message naming the first recorded component that has exited, with its log's tail."""
        for name, record in self._records().items():
            if record is not None and not is_alive(record):
                log = self.layout.log(name)
                return f"{name} exited; see {log}: {tail(log)}"
        return None

    def _start_control_plane(
        self, binaries: dict[str, Binary], ports: Ports, block: AddressBlock, bar: _Progress, timeout: float
    ) -> None:
        layout = self.layout
        network = NodeNetwork(block.index)
        cidr, advertise = network.service_cidr, network.host_ip
        self._launch("etcd", components.etcd_command(binaries["etcd"].path, layout, ports))
        etcd_health = f"http://{HOST}:{ports.etcd_client}/health"
        wait_until(lambda: http_ok(etcd_health), "etcd", timeout, self._dead_component)
        bar.step("etcd")

        binary = binaries["kube-apiserver"].path
        command = components.apiserver_command(binary, layout, ports, cidr, advertise)
        self._launch("kube-apiserver", command)
        wait_until(lambda: self._api_ready(ports), "kube-apiserver /readyz", timeout, self._dead_component)
        bar.step("kube-apiserver")

        binary = binaries["kube-controller-manager"].path
        self._launch(
            "kube-controller-manager", components.controller_manager_command(binary, layout, ports, cidr)
        )
        binary = binaries["kube-scheduler"].path
        self._launch("kube-scheduler", components.scheduler_command(binary, layout, ports))
        insecure = insecure_context()
        for name, port in (
            ("kube-controller-manager", ports.controller_manager),
            ("kube-scheduler", ports.scheduler),
        ):
            url = f"https://{HOST}:{port}/healthz"
            healthy = functools.partial(http_ok, url, insecure)
            wait_until(healthy, f"{name} /healthz", timeout, self._dead_component)
        bar.step("controller-manager and scheduler")

    def _launch_node(self, ports: Ports, timeout: float = 180.0) -> None:
        """Start the node and remember which version of its code it runs."""

        def launch_kubelet(argv: list[str], env: dict[str, str]) -> ProcessRecord:
            return self._launch("node", argv, env)

        self.kubelet_node().start(ports.apiserver, launch_kubelet, dict(os.environ), timeout)
        self.layout.node_code_file.write_text(node_code_fingerprint(*NODE_PACKAGES))

    def _node_started_at(self) -> datetime.datetime | None:
        """When the running kubelet started: its Ready condition counts only once renewed after that."""
        try:
            seconds = self.layout.pid_file("node").stat().st_mtime
        except FileNotFoundError:
            return None
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC)

    def _helpers_alive(self) -> bool:
        return self.kubelet_node().helpers_alive()

    def kubelet_node(self) -> KubeletNode:
        """The kubelet node of this cluster (its processes, containerd, network)."""
        network = NodeNetwork((self._address_block() or AddressBlock(0)).index)
        # Absolute paths: the kubelet reads relative ones against its config file's folder.
        return KubeletNode(StateLayout(self.state_dir.resolve()), network, self.node_name)

    def _require_kubelet_state(self) -> None:
        """A state dir made by an older kit's node agent uses other address ranges: it is not reused."""
        saved = self._saved().get("node", "agent")
        if self.layout.etcd_data.is_dir() and saved != NODE_KIND:
            raise ClusterError(
                f"the cluster in {self.state_dir} was made with an older kit's node {saved!r}, not the "
                "kubelet: run `labkit cluster down --wipe` first, or use another --state-dir"
            )

    def _node_code_changed(self) -> bool:
        """Whether labkit's node code differs from what the running node was started with."""
        try:
            return self.layout.node_code_file.read_text().strip() != node_code_fingerprint(*NODE_PACKAGES)
        except FileNotFoundError:
            return True

    def _wait_node(self, timeout: float) -> None:
        api = addons.api_client(self.kubeconfig_path)
        started = self._node_started_at()
        wait_until(
            lambda: addons.node_ready(api, self.node_name, since=started),
            f"node {self.node_name} to be Ready",
            timeout,
            self._dead_component,
        )

    def _info(
        self,
        ports: Ports,
        started: bool,
        since: float,
        binaries: dict[str, Binary] | None = None,
        recovered: tuple[str, ...] = (),
    ) -> ClusterInfo:
        return ClusterInfo(
            kubeconfig=self.kubeconfig_path,
            server=f"https://{HOST}:{ports.apiserver}",
            state_dir=self.state_dir,
            started=started,
            seconds=time.monotonic() - since,
            binaries={name: binary.path for name, binary in (binaries or {}).items()},
            recovered=recovered,
        )

    def _stop_component(self, name: str) -> bool:
        """Stop one recorded component (for the node also its containers and helpers); forget its pid file."""
        pid_file = self.layout.pid_file(name)
        record = read_record(pid_file)
        stopped = record is not None and stop_process(record, STOP_GRACE.get(name, 10.0))
        if name == "node":
            self._stop_node_leftovers()
        pid_file.unlink(missing_ok=True)
        return stopped

    def _stop_all(self) -> list[str]:
        """Stop every recorded component, the node first, and what the node started."""
        return [name for name in reversed(COMPONENT_ORDER) if self._stop_component(name)]

    def _stop_node_leftovers(self) -> None:
        """The kubelet node's containers and helper processes (containerd, relay, DNS, registry)."""
        if self._saved().get("node") == NODE_KIND and self._address_block() is not None:
            self.kubelet_node().stop_helpers_and_containers()

    def down(self, wipe: bool = False) -> list[str]:
        """Stop exactly the recorded processes (SIGTERM, then SIGKILL); ``wipe`` also deletes the state.

        Returns the names of the components that were running.
        """
        if not self.state_dir.is_dir():
            return []
        with self._locked():
            if wipe:
                self._remove_volumes()
            stopped = self._stop_all()
        if wipe:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped

    def _remove_volumes(self) -> None:
        """Before a wipe: delete the host-path volumes this cluster provisioned (best effort)."""
        if not self.is_running():
            return
        try:
            from kubernetes import client

            volumes = client.CoreV1Api(addons.api_client(self.kubeconfig_path)).list_persistent_volume(
                _request_timeout=10
            )
        except Exception:
            return
        for volume in volumes.items:
            spec = volume.spec
            host_path = spec.host_path.path if spec and spec.host_path else None
            if host_path and host_path.startswith(HOSTPATH_PV_ROOT) and ".." not in host_path:
                shutil.rmtree(host_path, ignore_errors=True)


def node_code_fingerprint(*packages: str) -> str:
    """A digest of the node's source files (labkit's kubelet-node packages by default): a running node
    with another digest is outdated."""
    digest = hashlib.sha256()
    for package in packages or NODE_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        folder = Path(spec.origin).parent
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(folder).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
