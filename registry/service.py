"""The registry's behaviour behind the routes: register, heartbeat, unregister, list, resolve.

Both registration shapes go through :meth:`RegistryService.register`, so there is one model, one
write path and one resolution routine.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from registry import clock
from registry.candidates import CandidateCache
from registry.clock import SYSTEM_CLOCK, Clock
from registry.listing import AgentListing
from registry.liveness import Liveness
from registry.model import AgentRegistration, RegistrationRejected, ToolSpec, validate_registration
from registry.resolution import Provider, Resolved, Resolver, find_required_cycle, tag_score
from registry.semver_constraints import parse_version, satisfies
from registry.storage.repository import AgentFilter, SavedRegistration, Storage

log = logging.getLogger("registry.service")

WRITTEN_DIGESTS = 100_000  # agents whose last stored content is remembered


def _digest(reg: AgentRegistration, columns: dict[str, Any]) -> bytes | None:
    """A fingerprint of everything a registration writes (None when it cannot be serialised)."""
    try:
        encoded = orjson.dumps([reg, columns], option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return None
    return hashlib.blake2b(encoded, digest_size=16).digest()


@dataclass(frozen=True)
class FastHeartbeat:
    """The outcome of a HEAD: 200 no change, 202 topology changed, 410 unknown or unhealthy."""

    status: int


def _own_providers(reg: AgentRegistration) -> list[Provider]:
    return [
        Provider(
            agent_id=reg.agent_id,
            function_name=tool.function_name,
            capability=tool.capability,
            version=tool.version,
            tags=tool.tags,
            endpoint=reg.endpoint,
            healthy=True,
            kwargs=tool.kwargs or None,
            required_dependencies=tuple(d for d in tool.dependencies if d.required),
            description=tool.description,
            input_schema=tool.input_schema,
        )
        for tool in reg.tools
    ]


def _llm_filter_entries(tool: ToolSpec) -> list[dict[str, Any]]:
    entries = []
    for item in (tool.llm_filter or {}).get("filter") or []:
        if isinstance(item, str):
            entries.append({"capability": item})
        elif isinstance(item, dict) and isinstance(item.get("capability"), str):
            entries.append(item)
    return entries


class RegistryService:
    """Registration, fast heartbeats, unregistration and the read views, over one Storage."""

    def __init__(self, storage: Storage, liveness: Liveness, clock: Clock = SYSTEM_CLOCK) -> None:
        self.storage = storage
        self.clock = clock
        self.liveness = liveness
        self.listing = AgentListing(storage, liveness)
        # agent id -> digest of the content this replica last stored or confirmed
        self._written: dict[str, bytes] = {}
        self.candidate_cache = CandidateCache(liveness)

    # ---- registration ---------------------------------------------------------------------------

    async def register(self, reg: AgentRegistration) -> dict[str, Any]:
        """Validate, resolve and store a registration; return the wire response (success shape).

        Raises RegistrationRejected for a semantic error; database errors propagate.
        """
        if reg.source == "heartbeat":
            validate_registration(reg)
        seen_event_id = await self._event_watermark()
        index = await self._candidate_index(reg)
        await self._reject_required_cycle(reg)
        resolver = Resolver(index)
        resolved: dict[str, list[Resolved]] = {
            tool.function_name: resolver.resolve_all(tool.dependencies)
            for tool in reg.tools
            if tool.dependencies
        }
        llm_tools = {
            tool.function_name: self._llm_tools(tool, reg, index) for tool in reg.tools if tool.llm_filter
        }
        llm_providers = {}
        for tool in reg.tools:
            if tool.llm_provider:
                chosen = self._llm_provider(tool.llm_provider, index)
                if chosen is not None:
                    llm_providers[tool.function_name] = chosen
        now = self.clock.now()
        columns = self._resolution_columns(resolved, llm_tools, llm_providers)
        digest = _digest(reg, columns)
        if digest is not None and self._unchanged(reg.agent_id, digest):
            # Only its times move, in the next batch, as for a HEAD: nothing else would be written.
            self.liveness.refreshed(reg.agent_id, now, seen_event_id)
            saved = SavedRegistration(created=False, revived=False, event_id=None)
        else:
            saved = await self._save(reg, now, columns, digest, seen_event_id)
        if saved.created or saved.revived:
            log.info(
                "agent registered",
                extra={"agent_id": reg.agent_id, "source": reg.source, "revived": saved.revived},
            )
        response: dict[str, Any] = {
            "agent_id": reg.agent_id,
            "status": "success",
            "message": "Agent registered via heartbeat" if saved.created else "Agent updated via heartbeat",
            "timestamp": clock.rfc3339(now),
            "dependencies_resolved": {fn: [r.to_wire() for r in items] for fn, items in resolved.items()},
            "llm_tools": llm_tools,
        }
        if llm_providers:
            response["llm_providers"] = llm_providers
        if reg.agent_type == "a2a":
            response["surfaces"] = reg.surfaces or []
        if reg.warnings:
            response["warnings"] = reg.warnings
        return response

    async def _event_watermark(self) -> int:
        """The newest event id whose effects the resolution about to be read will see.

        Read before any provider, so any later topology event by another agent makes the next HEAD a 202.
        On a database this replica writes alone every event is applied in memory as it is written; with
        other writers, the database's counter also covers the events this replica has not polled yet.
        """
        if self.liveness.shared_database:
            return await self.storage.last_event_id()
        return self.liveness.event_watermark

    def _unchanged(self, agent_id: str, digest: bytes) -> bool:
        """Whether this replica wrote exactly this content last and the agent is still healthy.

        Only while no other process writes the database (else it may have stored something newer).
        """
        if self.liveness.shared_database or self._written.get(agent_id) != digest:
            return False
        return self._known_healthy(agent_id)

    def _known_healthy(self, agent_id: str) -> bool:
        state = self.liveness.states.get(agent_id)
        return state is not None and state.status == "healthy"

    def _may_hold_it_already(self, agent_id: str, digest: bytes | None) -> bool:
        """Whether to ask a shared database if it holds this content: only for an agent known healthy
        whose last content seen here was this one (or is not known here), so neither a first
        registration nor a changed payload costs an extra statement. A wrong guess costs only a full
        write of the same content."""
        if not (self.liveness.shared_database and self._known_healthy(agent_id)):
            return False
        return self._written.get(agent_id, digest) == digest

    async def _save(
        self,
        reg: AgentRegistration,
        now: float,
        columns: dict[str, Any],
        digest: bytes | None,
        seen_event_id: int,
    ) -> SavedRegistration:
        confirm = self._may_hold_it_already(reg.agent_id, digest)
        self._written.pop(reg.agent_id, None)
        saved = await self.storage.save_registration(
            reg, now, columns, seen_event_id, digest, confirm=confirm
        )
        if saved.unchanged:
            self.liveness.confirmed(reg.agent_id, now, seen_event_id)
        else:
            # One step with no await: no resolution may see the event without the agent's new tools.
            self.candidate_cache.before_registration()
            self.liveness.registered(reg.agent_id, now, saved.event_id, seen_event_id)
            self.candidate_cache.registered(reg.agent_id, _own_providers(reg))
        if digest is not None:
            if len(self._written) >= WRITTEN_DIGESTS:
                self._written.clear()
            self._written[reg.agent_id] = digest
        return saved

    async def _candidate_index(self, reg: AgentRegistration) -> dict[str, list[Provider]]:
        """Providers for every capability the registration may need, transitively for required deps."""
        needed: set[str] = set()
        for tool in reg.tools:
            needed.update(d.capability for d in tool.dependencies)
            needed.update(e["capability"] for e in _llm_filter_entries(tool))
            if tool.llm_provider and isinstance(tool.llm_provider.get("capability"), str):
                needed.add(tool.llm_provider["capability"])
        index: dict[str, list[Provider]] = {}
        own = _own_providers(reg)
        while needed:
            found = await self.candidates(needed)
            for capability, providers in found.items():
                index[capability] = [p for p in providers if p.agent_id != reg.agent_id]
                index[capability] += [p for p in own if p.capability == capability]
            needed = {
                dep.capability
                for providers in index.values()
                for provider in providers
                for dep in provider.required_dependencies
            } - set(index)
        return index

    async def candidates(self, names: set[str]) -> dict[str, list[Provider]]:
        """Storage.candidates, kept by capability while no other process writes (see CandidateCache)."""
        if self.liveness.shared_database:
            return await self.storage.candidates(names)
        found = self.candidate_cache.lookup(names)
        if found is None:
            read_at = self.liveness.version
            found = await self.storage.candidates(names)
            self.candidate_cache.keep(found, read_at)
        return found

    async def _reject_required_cycle(self, reg: AgentRegistration) -> None:
        required = {d.capability for t in reg.tools for d in t.dependencies if d.required}
        if not required:
            return
        providers, needs = await self.storage.graph_without(reg.agent_id)
        for tool in reg.tools:
            providers.setdefault(tool.capability, set()).add(reg.agent_id)
        needs[reg.agent_id] = required
        edges = {agent: {p for c in caps for p in providers.get(c, ())} for agent, caps in needs.items()}
        cycle = find_required_cycle(reg.agent_id, edges)
        if cycle:
            raise RegistrationRejected("required dependency cycle: " + " -> ".join(cycle))

    @staticmethod
    def _resolution_columns(
        resolved: dict[str, list[Resolved]],
        llm_tools: dict[str, list[dict[str, Any]]],
        llm_providers: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        rows = []
        for function_name, items in resolved.items():
            for position, item in enumerate(items):
                dep, provider = item.dependency, item.provider
                row: dict[str, Any] = {
                    "function_name": function_name,
                    "dep_index": position,
                    "capability": dep.capability,
                    "tags": dep.plain_tags,
                    "version": dep.version,
                    "required": dep.required,
                    "status": item.status,
                }
                if provider is not None:
                    row.update(
                        mcp_tool=provider.function_name,
                        provider_agent_id=provider.agent_id,
                        endpoint=provider.endpoint,
                    )
                rows.append(row)
        llm_tool_rows = [
            {"function_name": fn, "provider_agent_id": None, "mcp_tool": t["name"], "endpoint": t["endpoint"]}
            for fn, tools in llm_tools.items()
            for t in tools
        ]
        llm_provider_rows = [
            {
                "function_name": fn,
                "provider_agent_id": p["agent_id"],
                "mcp_tool": p["name"],
                "endpoint": p["endpoint"],
            }
            for fn, p in llm_providers.items()
        ]
        return {
            "total_dependencies": len(rows),
            "dependencies_resolved": sum(1 for r in rows if r["status"] == "available"),
            "dependency_resolutions": rows or None,
            "llm_tool_resolutions": llm_tool_rows or None,
            "llm_provider_resolutions": llm_provider_rows or None,
        }

    @staticmethod
    def _llm_tools(
        tool: ToolSpec, reg: AgentRegistration, index: dict[str, list[Provider]]
    ) -> list[dict[str, Any]]:
        """Tools an LLM-driven function may call: union over its filter entries, one per function name."""
        chosen: dict[str, Provider] = {}
        mode = (tool.llm_filter or {}).get("filter_mode", "all")
        for entry in _llm_filter_entries(tool):
            tags = [t for t in entry.get("tags") or [] if isinstance(t, str)]
            version = entry.get("version") if isinstance(entry.get("version"), str) else ""
            matches = [
                p
                for p in index.get(entry["capability"], [])
                if p.healthy
                and p.input_schema is not None
                and p.agent_id != reg.agent_id
                and tag_score(tags, p.tags) is not None
                and satisfies(p.version, version)
            ]
            if mode == "best_match" and matches:
                matches = [max(matches, key=lambda p: (parse_version(p.version) is not None, len(p.tags)))]
            for provider in matches:
                chosen.setdefault(provider.function_name, provider)
        return [
            {
                "name": p.function_name,
                "capability": p.capability,
                "description": p.description or "",
                "inputSchema": p.input_schema,
                "tags": list(p.tags),
                "version": p.version,
                "endpoint": p.endpoint,
            }
            for p in chosen.values()
        ]

    @staticmethod
    def _llm_provider(spec: dict[str, Any], index: dict[str, list[Provider]]) -> dict[str, Any] | None:
        capability = spec.get("capability")
        if not isinstance(capability, str):
            return None
        tags = [t for t in spec.get("tags") or [] if isinstance(t, str)]
        version = spec.get("version") if isinstance(spec.get("version"), str) else ""
        ranked = []
        for p in index.get(capability, []):
            score = tag_score(tags, p.tags)
            if (
                p.healthy
                and p.input_schema is not None
                and score is not None
                and satisfies(p.version, version)
            ):
                ranked.append((-score, p.agent_id, p))
        if not ranked:
            return None
        provider = min(ranked, key=lambda r: (r[0], r[1]))[2]
        endpoint = provider.endpoint.replace("://0.0.0.0:", "://localhost:")
        item: dict[str, Any] = {
            "name": provider.function_name,
            "endpoint": endpoint,
            "agent_id": provider.agent_id,
            "capability": provider.capability,
            "status": "available",
            "vendor": (provider.kwargs or {}).get("vendor", "unknown"),
        }
        if provider.tags:
            item["tags"] = list(provider.tags)
        if provider.version:
            item["version"] = provider.version
        if provider.kwargs:
            item["kwargs"] = provider.kwargs
        return item

    # ---- heartbeats -----------------------------------------------------------------------------

    async def fast_heartbeat(self, agent_id: str) -> FastHeartbeat:
        """HEAD /heartbeat/{id}: answered from memory; a database error propagates (the route sends 503)."""
        state = await self.liveness.state(agent_id)
        if state is None or state.status != "healthy":
            return FastHeartbeat(410)
        self.liveness.seen(agent_id, self.clock.now())
        if not self.liveness.topology_changed(agent_id, state.seen_event_id):
            return FastHeartbeat(200)
        if self.liveness.needs_confirmation(agent_id):
            # Another replica may have taken this agent's newer POST (which writes no event): look once.
            state = await self.liveness.state(agent_id, refresh=True)
            if state is None or state.status != "healthy":
                return FastHeartbeat(410)
        return FastHeartbeat(202 if self.liveness.topology_changed(agent_id, state.seen_event_id) else 200)

    async def unregister(self, agent_id: str) -> bool:
        """DELETE /agents/{id}: unhealthy at once, with an event; False when the id is unknown."""
        now = self.clock.now()
        event_id = await self.storage.unregister(agent_id, now)
        if event_id is None:
            return False
        self.liveness.status_changed(agent_id, "unhealthy", event_id)
        log.info("agent unregistered", extra={"agent_id": agent_id})
        return True

    # ---- read views -----------------------------------------------------------------------------

    async def list_agents(self, flt: AgentFilter) -> bytes:
        """GET /agents in the real registry's shape (JSON null for empty lists), as a JSON body."""
        return await self.listing.body(flt)

    async def capabilities(self) -> dict[str, Any]:
        """GET /capabilities (the guide): each capability with its providers and their health."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in await self.storage.capability_index():
            grouped.setdefault(row.capability, []).append(
                {
                    "agent_id": row.agent_id,
                    "function_name": row.function_name,
                    "version": row.version,
                    "tags": row.tags or [],
                    "endpoint": row.endpoint,
                    "status": row.status,
                }
            )
        items = [
            {
                "name": name,
                "providers": providers,
                "total_providers": len(providers),
                "healthy_providers": sum(1 for p in providers if p["status"] == "healthy"),
            }
            for name, providers in sorted(grouped.items())
        ]
        return {"capabilities": items, "count": len(items), "timestamp": clock.rfc3339(self.clock.now())}

    async def events(
        self, event_type: str | None, agent_id: str | None, function_name: str | None, limit: int
    ) -> dict[str, Any]:
        items = []
        for row in await self.storage.list_events(event_type, agent_id, function_name, limit):
            item: dict[str, Any] = {
                "event_type": row.event_type,
                "agent_id": row.agent_id,
                "timestamp": clock.rfc3339(row.timestamp),
            }
            if row.agent_name:
                item["agent_name"] = row.agent_name
            if row.function_name:
                item["function_name"] = row.function_name
            if row.data:
                item["data"] = row.data
            items.append(item)
        return {"count": len(items), "events": items}

    @staticmethod
    def schema_item(row: Any) -> dict[str, Any]:
        return {
            "hash": row.hash,
            "canonical": row.canonical,
            "runtime_origin": row.runtime_origin,
            "created_at": clock.rfc3339(row.created_at),
        }
