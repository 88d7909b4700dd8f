"""Dependency resolution: which provider serves a consumer's dependency, by the real registry's rules.

Per dependency: candidates are the tools with exactly that capability (any agent, any namespace, the
consumer itself included); keep healthy agents whose own required dependencies resolve (transitively,
cycles fail closed); apply tags (plain must be present +5, ``+tag`` preferred +10, ``-tag`` must be
absent, an inner list is an OR group); apply the version constraint; tie-break by score, then highest
version (valid beats invalid), then agent id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from registry.model import DependencySpec
from registry.semver_constraints import Version, parse_version, satisfies


@dataclass(frozen=True)
class Provider:
    """A tool that could serve a dependency, with what resolution needs to know about its agent."""

    agent_id: str
    function_name: str
    capability: str
    version: str
    tags: tuple[str, ...]
    endpoint: str
    healthy: bool
    kwargs: dict[str, Any] | None = None
    required_dependencies: tuple[DependencySpec, ...] = ()
    description: str | None = None
    input_schema: Any = None


@dataclass(frozen=True)
class Resolved:
    """The outcome for one dependency position."""

    dependency: DependencySpec
    provider: Provider | None

    @property
    def status(self) -> str:
        return "available" if self.provider else "unresolved"

    def to_wire(self) -> dict[str, Any]:
        """The item of ``dependencies_resolved`` (five string keys, plus kwargs when the provider has any)."""
        if self.provider is None:
            return {
                "agent_id": "",
                "capability": self.dependency.capability,
                "endpoint": "",
                "function_name": "",
                "status": "unresolved",
            }
        item: dict[str, Any] = {
            "agent_id": self.provider.agent_id,
            "capability": self.provider.capability,
            "endpoint": self.provider.endpoint,
            "function_name": self.provider.function_name,
            "status": "available",
        }
        if self.provider.kwargs:
            item["kwargs"] = self.provider.kwargs
        return item


def tag_score(wanted: Iterable[str | tuple[str, ...]], offered: Iterable[str]) -> int | None:
    """Score a provider's tags against a dependency's tag spec; None when it does not match."""
    return _tag_score(tuple(wanted), tuple(offered))


@lru_cache(maxsize=16384)
def _tag_score(wanted: tuple[str | tuple[str, ...], ...], offered: tuple[str, ...]) -> int | None:
    # Memoised: a mesh has few distinct tag sets, and every resolution scores every candidate.
    have = set(offered)
    score = 0
    for tag in wanted:
        if isinstance(tag, tuple):
            best = None
            for member in tag:
                gained = _single_tag(member, have)
                if gained is not None and (best is None or gained > best):
                    best = gained
            if best is None:
                return None
            score += max(best, 5)
            continue
        gained = _single_tag(tag, have)
        if gained is None:
            return None
        score += gained
    return score


def _single_tag(tag: str, have: set[str]) -> int | None:
    if tag.startswith("+"):
        return 10 if tag[1:] in have else 0
    if tag.startswith("-"):
        return None if tag[1:] in have else 0
    return 5 if tag in have else None


@lru_cache(maxsize=4096)
def _version_key(version: str) -> tuple[int, Version | None]:
    parsed = parse_version(version)
    return (1, parsed) if parsed is not None else (0, None)


@dataclass
class Resolver:
    """Resolves dependencies against a fixed candidate index (capability → providers)."""

    candidates: Mapping[str, list[Provider]]
    _usable: dict[tuple[str, str], bool] = field(default_factory=dict)

    def resolve(self, dependency: DependencySpec) -> Resolved:
        """Pick the provider for one dependency position, or none."""
        return Resolved(dependency, self._choose(dependency, ()))

    def resolve_all(self, dependencies: Iterable[DependencySpec]) -> list[Resolved]:
        return [self.resolve(dep) for dep in dependencies]

    def _choose(self, dependency: DependencySpec, stack: tuple[str, ...]) -> Provider | None:
        ranked: list[tuple[int, tuple[int, Version | None], str, Provider]] = []
        for provider in self.candidates.get(dependency.capability, []):
            if not provider.healthy or not self._requirements_met(provider, stack):
                continue
            score = tag_score(dependency.tags, provider.tags)
            if score is None or not satisfies(provider.version, dependency.version):
                continue
            ranked.append((score, _version_key(provider.version), provider.agent_id, provider))
        if not ranked:
            return None
        best_score = max(r[0] for r in ranked)
        top = [r for r in ranked if r[0] == best_score]
        valid = [r for r in top if r[1][0] == 1]
        if valid:
            newest = max(r[1][1] for r in valid if r[1][1] is not None)
            top = [r for r in valid if r[1][1] == newest]
        return min(top, key=lambda r: (r[2], r[3].function_name))[3]

    def _requirements_met(self, provider: Provider, stack: tuple[str, ...]) -> bool:
        if not provider.required_dependencies:
            return True
        key = (provider.agent_id, provider.function_name)
        if key in self._usable:
            return self._usable[key]
        if provider.agent_id in stack:
            return False  # a cycle of required dependencies fails closed
        inner = (*stack, provider.agent_id)
        usable = all(self._choose(dep, inner) is not None for dep in provider.required_dependencies)
        self._usable[key] = usable
        return usable

    def required_unmet(self, provider: Provider) -> DependencySpec | None:
        """The first required dependency of provider that does not resolve, if any."""
        for dep in provider.required_dependencies:
            if self._choose(dep, (provider.agent_id,)) is None:
                return dep
        return None


def find_required_cycle(start: str, required_edges: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle of required dependencies through ``start`` (agent ids), if there is one."""
    path: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        for nxt in sorted(required_edges.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        return None

    return visit(start)
