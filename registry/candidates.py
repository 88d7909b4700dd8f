"""The providers of each capability, kept in memory between registrations on a database this replica
writes alone.

A registration resolves its dependencies against every tool that provides the capabilities it needs.
Reading and decoding those rows is the largest part of a POST once a capability has many providers
(200 at 10,000 agents on 50 capabilities), and in a registration storm every POST changes the mesh. So
an entry is not thrown away when the mesh changes, only when a change can touch it:

- a registration through this replica replaces its agent's providers in place, in the same step that
  makes its event visible (no await between them, so no resolution sees the event without the tools);
- any other change of an agent (unhealthy, unregistered, forgotten) drops the entries it appears in;
- a read that overlapped a change which could touch what it read is not kept.

Every write that changes providers bumps ``Liveness.version`` through ``Liveness._changed``; the cache
follows ``Liveness.changed_since``, and forgets everything when that is unknown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from registry.liveness import Liveness
from registry.resolution import Provider

CAPABILITIES_KEPT = 10_000  # capability entries kept before the cache starts again
REGISTRATIONS_REMEMBERED = 10_000  # in-place registrations a read in flight is checked against


class CandidateCache:
    """Providers by capability name, valid for ``Liveness.version`` as of ``version``."""

    def __init__(self, liveness: Liveness) -> None:
        self.liveness = liveness
        self.version = liveness.version
        self._entries: dict[str, list[Provider]] = {}
        self._agent_capabilities: dict[str, set[str]] = {}  # agent id -> entries it appears in
        # (version, capabilities) of each registration applied in place, oldest first, and the newest
        # version whose registrations may be missing from it.
        self._registrations: deque[tuple[int, frozenset[str]]] = deque()
        self._registrations_known_from = self.version

    def lookup(self, names: Iterable[str]) -> dict[str, list[Provider]] | None:
        """The providers of every name, or None when one of them is not kept."""
        self.catch_up()
        found = {}
        for name in names:
            providers = self._entries.get(name)
            if providers is None:
                return None
            found[name] = providers
        return found

    def keep(self, found: Mapping[str, list[Provider]], read_at: int) -> None:
        """Keep what a read begun at version ``read_at`` found, but not what a change since may touch."""
        changed = self.liveness.changed_since(read_at)
        if changed is None or read_at < self._registrations_known_from:
            return  # too much happened during the read to tell
        registered: set[str] = set()
        for version, capabilities in reversed(self._registrations):
            if version <= read_at:
                break
            registered |= capabilities
        self.catch_up()
        if len(self._entries) + len(found) > CAPABILITIES_KEPT:
            self._clear()
        for name, providers in found.items():
            if name in self._entries or name in registered:
                continue
            if any(p.agent_id in changed for p in providers):
                continue
            self._entries[name] = providers
            for provider in providers:
                self._agent_capabilities.setdefault(provider.agent_id, set()).add(name)

    def before_registration(self) -> None:
        """Apply every change so far, so that the registration about to be noted is the only new one."""
        self.catch_up()

    def registered(self, agent_id: str, providers: list[Provider]) -> None:
        """The agent's stored tools are now ``providers``; called right after ``Liveness.registered``."""
        new = {p.capability for p in providers}
        if self.liveness.version != self.version + 1:
            self.catch_up()  # something else changed too: the agent's own change drops its entries
            self._remember(new)
            return
        old = self._agent_capabilities.pop(agent_id, set())
        for name in old:  # new lists: a caller may still hold the old ones
            self._entries[name] = [p for p in self._entries[name] if p.agent_id != agent_id]
        for name in new & self._entries.keys():
            self._entries[name] = self._entries[name] + [p for p in providers if p.capability == name]
            self._agent_capabilities.setdefault(agent_id, set()).add(name)
        self.version = self.liveness.version
        self._remember(old | new)

    def _remember(self, capabilities: set[str]) -> None:
        """Note a registration's capabilities, for the reads in flight that ``keep`` will check."""
        if len(self._registrations) >= REGISTRATIONS_REMEMBERED:
            self._registrations_known_from = self._registrations.popleft()[0]
        self._registrations.append((self.liveness.version, frozenset(capabilities)))

    def catch_up(self) -> None:
        """Drop the entries of every agent changed since ``version``."""
        changed = self.liveness.changed_since(self.version)
        if changed is None:
            self._clear()
        else:
            for agent_id in changed:
                for name in self._agent_capabilities.pop(agent_id, ()):
                    self._drop(name)
        self.version = self.liveness.version

    def _drop(self, name: str) -> None:
        for provider in self._entries.pop(name, ()):
            names = self._agent_capabilities.get(provider.agent_id)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._agent_capabilities[provider.agent_id]

    def _clear(self) -> None:
        self._entries.clear()
        self._agent_capabilities.clear()
        self._registrations.clear()
        self._registrations_known_from = self.liveness.version
