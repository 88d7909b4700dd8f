"""Where a connection to ``svc/NAME`` or ``pod/NAME`` goes: a pod's name and its container port.

For a Service, a ready address of its Endpoints (what the Endpoints controller lists: ready pods, not
terminating ones), round robin. Resolved per connection by the port-forwarder, so a forwarded URL follows
a Service across a failover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from labkit import summaries
from labkit.errors import BadParameter, LabError, ObjectNotFound

if TYPE_CHECKING:
    from labkit.lab import Lab

Target = tuple[str, int]
Resolver = Callable[[], Target]


def target_resolver(lab: Lab, kind: str, name: str, port: int | str, turns: Iterator[int]) -> Resolver:
    """A function returning (pod name, port) of the pod, or of the Service's next ready Endpoint."""

    def resolve_pod() -> Target:
        pod = lab.get(f"pod/{name}")
        phase = summaries.pod_row(pod)["phase"]
        if (pod.get("status") or {}).get("phase") != "Running":
            raise LabError(f"pod/{name} is not running ({phase})")
        return name, container_port(pod, port)

    def resolve_service() -> Target:
        entry = service_port(lab.get(f"svc/{name}"), port)
        try:
            endpoints = lab.get(f"endpoints/{name}")
        except ObjectNotFound:  # the Endpoints controller has not written it yet
            endpoints = {}
        candidates = ready_endpoints(endpoints, entry)
        if not candidates:
            raise LabError(f"svc/{name} has no ready pods behind it")
        return candidates[next(turns) % len(candidates)]

    return resolve_service if kind == "Service" else resolve_pod


def service_port(service: dict[str, Any], port: int | str) -> dict[str, Any]:
    """The Service's port entry for a port number or name; BadParameter naming the ports it has."""
    spec = service.get("spec") or {}
    name = (service.get("metadata") or {}).get("name")
    if not spec.get("selector"):
        raise LabError(f"svc/{name} has no selector, so there is no pod to forward to")
    wanted = int(port) if isinstance(port, str) and port.isdigit() else port
    for entry in spec.get("ports") or []:
        if wanted in (entry.get("port"), entry.get("name")):
            return dict(entry)
    have = ", ".join(str(p.get("port")) for p in spec.get("ports") or [])
    raise BadParameter(f"svc/{name} has no port {port!r} (it has: {have or 'none'})")


def ready_endpoints(endpoints: dict[str, Any], entry: dict[str, Any]) -> list[Target]:
    """(pod name, target port) of every ready address behind one Service port, sorted by pod name."""
    found = []
    for subset in endpoints.get("subsets") or []:
        ports = subset.get("ports") or []
        match = next((p for p in ports if p.get("name") == entry.get("name")), None)
        if match is None and len(ports) == 1:
            match = ports[0]
        if match is None:
            continue
        for address in subset.get("addresses") or []:
            ref = address.get("targetRef") or {}
            if ref.get("kind") == "Pod" and ref.get("name"):
                found.append((str(ref["name"]), int(match["port"])))
    return sorted(set(found))


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
