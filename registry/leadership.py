"""The one "leadership" object that readiness and the health monitor consult.

With leader election off every replica leads. With it on, ``registry/leader.py`` provides
an object with the same shape, driven by a Kubernetes Lease.
"""

from __future__ import annotations

from typing import Any, Protocol


class Leadership(Protocol):
    """What the rest of the registry asks about leadership."""

    @property
    def enabled(self) -> bool: ...

    @property
    def is_leader(self) -> bool: ...

    @property
    def transitions(self) -> int:
        """The Lease's holder changes as last seen (cluster-wide)."""

    @property
    def acquisitions(self) -> int:
        """How often this replica started leading (the leader flag went from 0 to 1)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop campaigning and release the lease if held (called on SIGTERM)."""

    def describe(self) -> dict[str, Any]: ...


class AlwaysLeader:
    """Leader election disabled: this replica always leads."""

    enabled = False
    is_leader = True
    transitions = 0
    acquisitions = 0  # it never acquires a Lease: it leads from the start

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"enabled": False, "is_leader": True}
