"""Where a connection to ``svc/NAME`` or ``pod/NAME`` goes: a ready pod's IP and container port.

Resolved per connection by the local forwarder, so a forwarded URL follows a Service across a failover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from labkit import summaries
from labkit.errors import BadParameter, LabError

if TYPE_CHECKING:
    from labkit.lab import Lab

Resolver = Callable[[], tuple[str, int]]


def target_resolver(lab: Lab, kind: str, name: str, port: int | str, turns: Iterator[int]) -> Resolver:
    """A function returning (ip, port) of the pod, or of the Service's next ready pod (round robin)."""

    def resolve_pod() -> tuple[str, int]:
        pod = lab.get(f"pod/{name}")
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise LabError(f"pod/{name} has no IP yet ({summaries.pod_row(pod)['phase']})")
        return str(ip), container_port(pod, port)

    def resolve_service() -> tuple[str, int]:
        service = lab.get(f"svc/{name}")
        spec = service.get("spec") or {}
        entry = next(
            (p for p in spec.get("ports") or [] if port in (p.get("port"), p.get("name"))),
            None,
        )
        if entry is None:
            have = ", ".join(str(p.get("port")) for p in spec.get("ports") or [])
            raise BadParameter(f"svc/{name} has no port {port!r} (it has: {have or 'none'})")
        selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
        if not selector:
            raise LabError(f"svc/{name} has no selector, so there is no pod to forward to")
        ready = sorted(
            (
                p
                for p in lab.list_objects("pod", selector)
                if summaries.pod_is_ready(p) and not p["metadata"].get("deletionTimestamp")
            ),
            key=lambda p: p["metadata"]["name"],
        )
        if not ready:
            raise LabError(f"svc/{name} has no ready pods behind it")
        pod = ready[next(turns) % len(ready)]
        return str(pod["status"]["podIP"]), container_port(pod, entry.get("targetPort", entry["port"]))

    return resolve_service if kind == "Service" else resolve_pod


def container_port(pod: dict[str, Any], port: int | str) -> int:
    """A pod's port number for a number or a container port name."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for entry in container.get("ports") or []:
            if entry.get("name") == port:
                return int(entry["containerPort"])
    raise LabError(f"pod/{pod['metadata']['name']} has no container port named {port!r}")
