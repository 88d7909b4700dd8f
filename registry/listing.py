"""GET /agents, kept rendered: one JSON fragment per agent, re-rendered only for agents that changed.

A change (``Liveness.changed_since``) re-reads just the changed agents and the agents whose resolutions
name them (a provider's health shows in its consumers' entries), and re-renders those. Only the rendered
parts are kept, not the rows they came from: at 10,000 agents the rows would cost several times the
bytes of the body. A new agent in the list, a large change, a restore, or (with other replicas on the
same database) a second gone by re-read everything. Last-seen times come from memory on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from registry import clock
from registry.liveness import Liveness
from registry.storage.repository import AgentFilter, Storage, dependency_from_json

LISTING_CACHE_SIZE = 32  # distinct filters kept rendered
PARTIAL_LIMIT = 200  # more changed agents than this: re-read the whole list
REREAD_LIMIT = 900  # more changed agents and consumers together than this: the same
SEEN_CACHE_SIZE = 100_000
ENCODE_SLICE = 1000  # agents encoded between two turns of the event loop


@dataclass(slots=True)
class _Entry:
    fragment: bytes  # the agent's JSON object without its last_seen and closing brace
    providers: frozenset[str]  # agents its dependency resolutions name
    updated_at: float  # the stored time its last_seen starts from


@dataclass
class _Listing:
    version: int
    started: float  # monotonic time of the last full read
    entries: dict[str, _Entry]  # in the database's agent id order
    statuses: dict[str, str]


class AgentListing:
    """The rendered GET /agents bodies, one per filter."""

    def __init__(self, storage: Storage, liveness: Liveness) -> None:
        self.storage = storage
        self.liveness = liveness
        self._listings: dict[AgentFilter, _Listing] = {}
        self._lock = asyncio.Lock()
        self._seen: dict[str, tuple[float, bytes]] = {}

    async def body(self, flt: AgentFilter) -> bytes:
        """The JSON body of GET /agents for these filters (the real registry's shape)."""
        listing = self._listings.get(flt)
        if listing is None or not self._current(listing):
            async with self._lock:  # concurrent misses wait for one rendering
                listing = self._listings.get(flt)
                if listing is None or not self._current(listing):
                    listing = await self._refresh(flt, listing)
        return await self._encode(listing)

    def _expired(self, listing: _Listing) -> bool:
        """Other replicas' POSTs write no event: with a shared database, re-read at least every sync."""
        return (
            self.liveness.shared_database
            and time.monotonic() - listing.started >= self.liveness.sync_interval
        )

    def _current(self, listing: _Listing) -> bool:
        return listing.version == self.liveness.version and not self._expired(listing)

    async def _refresh(self, flt: AgentFilter, old: _Listing | None) -> _Listing:
        version = self.liveness.version
        if old is not None and not self._expired(old):
            changed = self.liveness.changed_since(old.version)
            if (
                changed is not None
                and len(changed) <= PARTIAL_LIMIT
                and await self._update(old, flt, changed)
            ):
                old.version = version
                return old
        started = time.monotonic()
        entries: dict[str, _Entry] = {}

        def render(rows: list[Any], tools: dict[str, list[Any]], statuses: dict[str, str]) -> None:
            for row in rows:
                entries[row.agent_id] = _entry(row, tools.get(row.agent_id, []), statuses)

        statuses = await self.storage.visit_agents(flt, render)
        listing = _Listing(version, started, entries, statuses)
        if len(self._listings) >= LISTING_CACHE_SIZE:
            self._listings.clear()
        self._listings[flt] = listing
        return listing

    async def _update(self, listing: _Listing, flt: AgentFilter, changed: set[str]) -> bool:
        """Re-render the changed agents and their consumers in place; False when a full read is needed."""
        if not changed:
            return True
        consumers = {
            agent_id for agent_id, entry in listing.entries.items() if not entry.providers.isdisjoint(changed)
        }
        wanted = changed | consumers
        if len(wanted) > REREAD_LIMIT:
            return False
        rows, tools, statuses = await self.storage.list_agents(flt, wanted)
        if any(row.agent_id not in listing.entries for row in rows):
            return False  # a new entry: its place in the order is the database's to say
        listed = {row.agent_id for row in rows}
        for agent_id in wanted:
            listing.statuses.pop(agent_id, None)
            if agent_id not in listed:
                listing.entries.pop(agent_id, None)  # gone, or no longer matching the filters
        listing.statuses.update(statuses)
        for row in rows:  # replaced in place: each keeps its position
            listing.entries[row.agent_id] = _entry(row, tools.get(row.agent_id, []), listing.statuses)
        return True

    async def _encode(self, listing: _Listing) -> bytes:
        """One join over the fragments and their suffixes: no per-agent concatenation on the way.

        Every last-seen time may have moved since the last request, so a large listing is encoded in
        slices with a turn of the event loop between them: heartbeats are not held up behind it.
        """
        entries = list(listing.entries.items())  # the listing may be updated in place during a turn
        parts: list[bytes] = []
        for start in range(0, len(entries), ENCODE_SLICE):
            if start:
                await asyncio.sleep(0)
            for agent_id, entry in entries[start : start + ENCODE_SLICE]:
                parts += (entry.fragment, self._seen_suffix(agent_id, entry.updated_at), b",")
        if parts:
            parts[0] = b'{"agents":[' + parts[0]
            parts[-1] = b"]"
        else:
            parts.append(b'{"agents":null')
        timestamp = clock.rfc3339().encode()
        parts.append(b',"count":%d,"timestamp":"%s"}' % (len(entries), timestamp))
        return b"".join(parts)

    def _seen_suffix(self, agent_id: str, updated_at: float) -> bytes:
        seen = max(updated_at, self.liveness.last_seen(agent_id) or 0.0)
        cached = self._seen.get(agent_id)
        if cached is not None and cached[0] == seen:
            return cached[1]
        if len(self._seen) >= SEEN_CACHE_SIZE:
            self._seen.clear()
        suffix = b',"last_seen":"' + clock.rfc3339(seen).encode() + b'"}'
        self._seen[agent_id] = (seen, suffix)
        return suffix


def _entry(row: Any, tools: list[Any], statuses: dict[str, str]) -> _Entry:
    item = agent_item(row, tools, statuses)
    providers = frozenset(
        stored["provider_agent_id"]
        for stored in row.dependency_resolutions or ()
        if stored.get("provider_agent_id")
    )
    return _Entry(orjson.dumps(item)[:-1], providers, row.updated_at)


def agent_item(row: Any, tools: list[Any], statuses: dict[str, str]) -> dict[str, Any]:
    """One agent of GET /agents, last_seen aside."""
    resolutions = []
    for stored in row.dependency_resolutions or ():
        status = stored["status"]
        provider = stored.get("provider_agent_id")
        if status == "available" and statuses.get(provider) != "healthy":
            status = "unavailable"
        item = {
            "function_name": stored["function_name"],
            "capability": stored["capability"],
            "status": status,
        }
        if stored.get("tags"):
            item["tags"] = stored["tags"]
        if provider:
            item.update(
                mcp_tool=stored.get("mcp_tool", ""),
                provider_agent_id=provider,
                endpoint=stored.get("endpoint", ""),
            )
        resolutions.append((stored, item))
    capabilities = []
    for tool in tools:
        capability: dict[str, Any] = {
            "name": tool.capability,
            "function_name": tool.function_name,
            "version": tool.version,
            "description": tool.description or "",
            "tags": tool.tags or [],
            "available": True,
        }
        reason = _unavailable_reason(row.status, tool, resolutions)
        if reason:
            capability.update(available=False, unavailable_reason=reason)
        if (tool.kwargs or {}).get("task") is True:
            capability["task"] = True
        if tool.llm_filter:
            capability["llm_filter"] = tool.llm_filter
        if tool.llm_provider:
            capability["llm_provider"] = tool.llm_provider
        capabilities.append(capability)
    return {
        "id": row.agent_id,
        "name": row.name,
        "agent_type": row.agent_type,
        "runtime": row.runtime or "python",
        "version": row.version or "",
        "description": row.description or "",
        "a2a_producer": bool(row.a2a_producer),
        "a2a_consumer": bool(row.a2a_consumer),
        "status": row.status,
        "endpoint": row.endpoint,
        "capabilities": capabilities or None,
        "total_dependencies": row.total_dependencies,
        "dependencies_resolved": row.dependencies_resolved,
        "dependency_resolutions": [item for _, item in resolutions] or None,
        "llm_tool_resolutions": row.llm_tool_resolutions or None,
        "llm_provider_resolutions": row.llm_provider_resolutions or None,
        "created_at": clock.rfc3339(row.created_at),
    }


def _unavailable_reason(
    agent_status: str, tool: Any, resolutions: Iterable[tuple[dict[str, Any], dict[str, Any]]]
) -> str | None:
    if agent_status != "healthy":
        return "agent unhealthy"
    for stored, item in resolutions:
        if (
            stored["function_name"] == tool.function_name
            and stored.get("required")
            and item["status"] != "available"
        ):
            dep = dependency_from_json(stored)
            tags = ",".join(dep.plain_tags)
            return (
                f"required dep '{dep.capability}' unresolved "
                f"(no provider matches tags=[{tags}], version {dep.version or 'any'})"
            )
    return None
