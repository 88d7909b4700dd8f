"""What ``status()`` and ``up()`` report about the local cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labkit.cluster.components import CONTROL_PLANE


@dataclass(frozen=True)
class ComponentStatus:
    """One component: its recorded pid, its port, whether that very process still runs, its log."""

    name: str
    pid: int | None
    port: int | None
    alive: bool
    log: Path


@dataclass(frozen=True)
class ClusterStatus:
    """What runs where."""

    state_dir: Path
    kubeconfig: Path
    server: str | None
    components: tuple[ComponentStatus, ...]

    def component(self, name: str) -> ComponentStatus:
        """The status of one component by name (``etcd``, ..., ``node``)."""
        return next(component for component in self.components if component.name == name)

    @property
    def control_plane_alive(self) -> bool:
        """Every control-plane component recorded and alive."""
        return all(self.component(name).alive for name in CONTROL_PLANE)

    @property
    def running(self) -> bool:
        """The control plane is alive, and so is the node if one was started."""
        node = self.component("node")
        return self.control_plane_alive and (node.alive or node.pid is None)

    def table(self) -> str:
        """A small text table for the CLI."""
        lines = [f"{'component':<24} {'pid':>8} {'port':>6}  state"]
        for component in self.components:
            state = "running" if component.alive else ("stopped" if component.pid is None else "dead (stale)")
            pid = "-" if component.pid is None else str(component.pid)
            port = "-" if component.port is None else str(component.port)
            lines.append(f"{component.name:<24} {pid:>8} {port:>6}  {state}")
        lines.append(f"API server: {self.server or '-'}")
        lines.append(f"kubeconfig: {self.kubeconfig}")
        lines.append(f"state:      {self.state_dir}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ClusterInfo:
    """What ``up`` returns: where the cluster answers, and whether this call had to start it."""

    kubeconfig: Path
    server: str
    state_dir: Path
    started: bool
    seconds: float
    binaries: dict[str, Path] = field(default_factory=dict)
    recovered: tuple[str, ...] = ()
