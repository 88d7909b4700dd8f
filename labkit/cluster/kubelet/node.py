"""Start and stop the real node: containerd, kubelet and kube-proxy in the node's network namespace,
plus the API relay and the cluster DNS on the machine's end of the node link.

Each process is started in its own session with its pid recorded (``<state>/kubelet-node/run``); the
kubelet's pid is the cluster's ``node`` component, so ``LocalCluster.status`` reports it like the agent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.binaries import NODE_COMPONENTS, Binary, ensure_binaries
from labkit.cluster.builder.logged import tail
from labkit.cluster.components import StateLayout
from labkit.cluster.errors import ClusterError
from labkit.cluster.health import wait_until
from labkit.cluster.images.catalog import IMAGES, ensure_image, images_dir
from labkit.cluster.images.oci import archive_digest
from labkit.cluster.kubeconfig import write_kubeconfig
from labkit.cluster.kubelet import cleanup
from labkit.cluster.kubelet.components import (
    cgroup_root,
    kube_proxy_command,
    kubelet_command,
    kubelet_env,
    write_kube_proxy_files,
    write_kubelet_files,
)
from labkit.cluster.kubelet.containerd import (
    REGISTRY_PORT,
    containerd_command,
    ctr_command,
    write_containerd_files,
)
from labkit.cluster.kubelet.layout import NodeLayout
from labkit.cluster.kubelet.network import NodeNetwork, create_network, delete_network, in_namespace
from labkit.cluster.kubelet.tools import NodeTools, check_host, ensure_node_tools
from labkit.cluster.processes import ProcessRecord, is_alive, read_record, start_process, stop_process

# Started in this order, stopped in the reverse one (the kubelet is the cluster's ``node`` component).
HELPERS = ("api-relay", "cluster-dns", "image-registry", "volume-permissions", "containerd", "kube-proxy")
STOP_GRACE = {
    "containerd": 10.0,
    "kube-proxy": 5.0,
    "api-relay": 5.0,
    "cluster-dns": 5.0,
    "image-registry": 5.0,
    "volume-permissions": 5.0,
}

Launch = Callable[[list[str], dict[str, str]], ProcessRecord]


@dataclass(frozen=True)
class KubeletNode:
    """The real node of one local cluster (state under ``<state>/kubelet-node``)."""

    state: StateLayout
    network: NodeNetwork
    node_name: str

    @property
    def layout(self) -> NodeLayout:
        return NodeLayout(self.state.root / "kubelet-node")

    def pid_file(self, name: str) -> Path:
        return self.layout.root / "run" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.state.log(name)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> ProcessRecord:
        log = self.log(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(f"\n==== labkit started {name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode())
        return start_process(argv, log, self.pid_file(name), env)

    def helpers_alive(self) -> bool:
        """Whether every helper process recorded for this node still runs."""
        for name in HELPERS:
            record = read_record(self.pid_file(name))
            if record is None or not is_alive(record):
                return False
        return True

    def dead_helper(self) -> str | None:
        for name in HELPERS:
            record = read_record(self.pid_file(name))
            if record is not None and not is_alive(record):
                return f"{name} exited; see {self.log(name)}: {tail(self.log(name))}"
        return None

    # --------------------------------------------------------------------------------------- start

    def prepare(self, progress: bool = False) -> tuple[NodeTools, dict[str, Binary]]:
        """Everything the node needs before it starts: host checks, packages, binaries, images."""
        check_host()
        self.layout.check()
        tools = ensure_node_tools()
        binaries = ensure_binaries(progress=progress, names=NODE_COMPONENTS)
        for recipe in IMAGES:
            ensure_image(recipe, tools)
        return tools, binaries

    def start(self, api_port: int, launch_kubelet: Launch, env: dict[str, str], timeout: float) -> None:
        """Start the node's processes; ``launch_kubelet`` starts the kubelet as the cluster's ``node``."""
        tools, binaries = self.prepare()
        self.stop_helpers_and_containers()
        network, layout, pki = self.network, self.layout, self.state.pki
        create_network(network)
        cleanup.create_cgroup_root(cgroup_root(network))
        server = f"https://{network.host_ip}:{api_port}"
        kubeconfig = layout.root / "kubeconfig"
        write_kubeconfig(kubeconfig, server, pki.ca_cert, pki.client_cert("node"), pki.client_key("node"))

        relay = [sys.executable, "-m", "labkit.cluster.kubelet.apirelay", network.host_ip, str(api_port)]
        self._start("api-relay", relay, env)
        dns = [
            sys.executable,
            "-m",
            "labkit.cluster.kubelet.dns",
            network.host_ip,
            str(self.state.kubeconfig),
        ]
        self._start("cluster-dns", dns, env)
        volumes = [sys.executable, "-m", "labkit.cluster.kubelet.volumes", str(self.state.kubeconfig)]
        self._start("volume-permissions", volumes, env)
        registry = [sys.executable, "-m", "labkit.cluster.images.registry", network.host_ip]
        self._start("image-registry", [*registry, str(REGISTRY_PORT), str(images_dir())], env)

        write_containerd_files(layout, tools, network)
        containerd = self._start(
            "containerd", in_namespace(network, containerd_command(layout, tools)), tools.env(env)
        )
        cleanup.move_to_runtime_cgroup(cgroup_root(network), containerd.pid)
        wait_until(self._containerd_ready(tools), "containerd", timeout, self.dead_helper)
        self.import_images(tools)

        write_kubelet_files(layout, network, pki)
        kubelet_argv = kubelet_command(binaries["kubelet"].path, layout, network, kubeconfig, self.node_name)
        launch_kubelet(in_namespace(network, kubelet_argv), {**tools.env(env), **kubelet_env(layout)})

        write_kube_proxy_files(layout, network, kubeconfig)
        proxy = kube_proxy_command(binaries["kube-proxy"].path, layout, self.node_name)
        self._start("kube-proxy", in_namespace(network, proxy), tools.env(env))

    def _containerd_ready(self, tools: NodeTools) -> Callable[[], tuple[bool, str]]:
        def ready() -> tuple[bool, str]:
            if not self.layout.containerd_socket.exists():
                return False, "no containerd socket yet"
            result = subprocess.run(
                ctr_command(self.layout, tools, "version"), capture_output=True, text=True, check=False
            )
            return result.returncode == 0, result.stderr.strip()

        return ready

    def import_images(self, tools: NodeTools) -> None:
        """Import every built image that containerd does not have in this very build."""
        listed = subprocess.run(
            ctr_command(self.layout, tools, "images", "ls"), capture_output=True, text=True, check=True
        )
        present = {}
        for line in listed.stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3:
                present[fields[0]] = fields[2]
        for recipe in IMAGES:
            archive = ensure_image(recipe, tools)
            if present.get(recipe.name) != archive_digest(archive):
                self.import_archive(tools, archive)

    def import_archive(self, tools: NodeTools, archive: Path) -> None:
        result = subprocess.run(
            ctr_command(self.layout, tools, "images", "import", str(archive)),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(f"containerd could not import {archive}: {result.stderr.strip()}")

    # ---------------------------------------------------------------------------------------- stop

    def stop_helpers_and_containers(self) -> list[str]:
        """After the kubelet stopped: every container, kube-proxy, containerd, the relay and DNS, mounts,
        cgroups and the network. Returns the names of the helpers that were running."""
        stopped = []
        record = read_record(self.pid_file("kube-proxy"))
        if record is not None and stop_process(record, STOP_GRACE["kube-proxy"]):
            stopped.append("kube-proxy")
        containerd = read_record(self.pid_file("containerd"))
        spare = (
            frozenset([containerd.pid]) if containerd is not None and is_alive(containerd) else frozenset()
        )
        # The containers first (containerd stays to see them exit), then containerd, then its shims.
        cleanup.kill_cgroup_processes(cgroup_root(self.network), spare=spare)
        for name in ("containerd", "image-registry", "volume-permissions", "cluster-dns", "api-relay"):
            record = read_record(self.pid_file(name))
            if record is not None and stop_process(record, STOP_GRACE[name]):
                stopped.append(name)
        cleanup.kill_cgroup_processes(cgroup_root(self.network))
        for name in HELPERS:
            self.pid_file(name).unlink(missing_ok=True)
        if self.layout.root.is_dir():
            cleanup.unmount_below(self.layout.root)
        cleanup.remove_cgroup_root(cgroup_root(self.network))
        delete_network(self.network)
        return stopped
