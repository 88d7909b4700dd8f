"""Every query the registry makes, in one place, over an AsyncEngine (any of the three dialects)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from registry.model import (
    AgentRegistration,
    DependencySpec,
    SchemaEntry,
    new_agent_row,
    recovery_event_data,
    register_event_data,
    unhealthy_event_data,
    unregister_event_data,
    updated_agent_values,
)
from registry.resolution import Provider
from registry.storage.execution import UnitOfWorkRunner
from registry.storage.schema import (
    TOPOLOGY_EVENTS,
    agents,
    capabilities,
    event_sequence,
    registry_events,
    schema_entries,
)


@dataclass(frozen=True)
class AgentState:
    """What the hot path needs to answer a HEAD: status, and the newest event id its resolution saw."""

    status: str
    seen_event_id: int


@dataclass(frozen=True)
class SavedRegistration:
    """What a registration write did."""

    created: bool
    revived: bool
    event_id: int | None
    unchanged: bool = False  # only the times moved: the row already held this content (``confirm``)


@dataclass(frozen=True)
class EventRow:
    """An event as the replica-sync poller sees it."""

    id: int
    event_type: str
    agent_id: str
    timestamp: float


@dataclass(frozen=True)
class EventsSince:
    """What the replica-sync poller read: the events after its cursor, and the last id handed out."""

    last_event_id: int
    events: list[EventRow]


@dataclass(frozen=True)
class TopologyHistory:
    """The recent topology events (oldest first) and the id below which history is not known."""

    last_event_id: int
    known_from: int
    events: list[tuple[int, str]]


@dataclass(frozen=True)
class AgentFilter:
    """GET /agents filters."""

    status: str | None = None
    namespace: str | None = None
    agent_type: str | None = None
    capabilities: tuple[str, ...] = ()
    fuzzy: bool = False


def dependency_from_json(data: Mapping[str, Any]) -> DependencySpec:
    """Rebuild a stored dependency."""
    tags = tuple(tuple(t) if isinstance(t, list) else t for t in data.get("tags") or ())
    return DependencySpec(
        capability=data["capability"],
        tags=tags,
        version=data.get("version") or "",
        namespace=data.get("namespace") or "default",
        required=bool(data.get("required")),
        match_mode=data.get("matchMode"),
        expected_schema_hash=data.get("expectedSchemaHash"),
    )


# Built once: the hot path of a re-posted, unchanged agent.
_TOUCH = (
    sa.update(agents)
    .where(agents.c.agent_id == sa.bindparam("b_id"))
    .where(agents.c.status == "healthy")
    .where(agents.c.updated_at < sa.bindparam("b_t"))
    .values(updated_at=sa.bindparam("b_t"))
)
_REFRESH_UNCHANGED = (
    sa.update(agents)
    .where(agents.c.agent_id == sa.bindparam("b_id"))
    .where(agents.c.status == "healthy")
    .values(
        updated_at=sa.case(
            (agents.c.updated_at < sa.bindparam("b_t"), sa.bindparam("b_t")), else_=agents.c.updated_at
        ),
        last_full_refresh=sa.case(
            (agents.c.last_full_refresh < sa.bindparam("b_t"), sa.bindparam("b_t")),
            else_=agents.c.last_full_refresh,
        ),
        seen_event_id=sa.case(
            (agents.c.seen_event_id < sa.bindparam("b_e"), sa.bindparam("b_e")),
            else_=agents.c.seen_event_id,
        ),
    )
)
# The same refresh, only when the row holds exactly the content this registration would write.
_CONFIRM_UNCHANGED = _REFRESH_UNCHANGED.where(agents.c.content_digest == sa.bindparam("b_d"))
_LAST_EVENT_ID = sa.select(event_sequence.c.last_event_id).where(event_sequence.c.id == 1)
_TAKE_EVENT_IDS = (
    sa.update(event_sequence)
    .where(event_sequence.c.id == 1)
    .values(last_event_id=event_sequence.c.last_event_id + sa.bindparam("b_count"))
)
_INSERT_EVENT = sa.insert(registry_events)
# A HEAD's check of the agent's row, which a replica sharing the database makes once per sync interval.
_AGENT_STATE = sa.select(agents.c.status, agents.c.seen_event_id).where(
    agents.c.agent_id == sa.bindparam("b_agent_id")
)

# The registration write's statements, built once: a statement object memoises its cache key, so reusing
# it skips SQLAlchemy's per-call construction and key generation (most of a changed heartbeat's cost).
_REGISTERED = sa.select(agents.c.status, agents.c.http_host, agents.c.http_port).where(
    agents.c.agent_id == sa.bindparam("b_agent_id")
)
_INSERT_AGENT = sa.insert(agents)
_DELETE_TOOLS = sa.delete(capabilities).where(capabilities.c.agent_id == sa.bindparam("b_agent_id"))
_INSERT_TOOLS = sa.insert(capabilities)


_LISTED_TOOL_COLUMNS = (
    capabilities.c.agent_id,
    capabilities.c.function_name,
    capabilities.c.capability,
    capabilities.c.version,
    capabilities.c.description,
    capabilities.c.tags,
    capabilities.c.kwargs,
    capabilities.c.llm_filter,
    capabilities.c.llm_provider,
    capabilities.c.dependencies,
)


@functools.cache
def _agent_update(columns: frozenset[str]) -> sa.Update:
    """UPDATE of these agent columns (a handful of shapes: which ones the overwrite rule sets)."""
    return (
        sa.update(agents)
        .where(agents.c.agent_id == sa.bindparam("b_agent_id"))
        .values({name: sa.bindparam(name) for name in sorted(columns)})
    )


class Storage:
    """The registry's database: every query by name, run as one unit of work per call (see execution.py)."""

    def __init__(self, engine: AsyncEngine, database_type: str) -> None:
        self.engine = engine
        self.database_type = database_type
        self.units = UnitOfWorkRunner(engine, database_type)
        self.run_read = self.units.read
        self.transaction = self.units.transaction

    @property
    def statement_engine(self) -> sa.Engine:
        """The synchronous engine whose events see every statement (for diagnostics and tests)."""
        return self.units.statement_engine

    @property
    def writes_in_flight(self) -> int:
        """Write transactions under way (see ``UnitOfWorkRunner.transaction``)."""
        return self.units.writes_in_flight

    async def close(self) -> None:
        """Release connections and worker threads."""
        await self.units.close()

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        await self.run_read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())

    # ---- hot path -------------------------------------------------------------------------------
    async def agent_state(self, agent_id: str) -> AgentState | None:
        row = await self.run_read(lambda conn: conn.execute(_AGENT_STATE, {"b_agent_id": agent_id}).first())
        return AgentState(row.status, int(row.seen_event_id)) if row else None

    async def touch(
        self, last_seen: Mapping[str, float], refreshed: Mapping[str, tuple[float, int]] | None = None
    ) -> None:
        """Write batched times in one commit: last-seen (HEADs), and for unchanged re-posts last-seen,
        last-full-refresh and the event id their resolution saw. Never revives an unhealthy agent, never
        moves a time or an id back."""
        work_items = []
        if refreshed:  # first: a HEAD after the re-post is newer
            rows = [{"b_id": agent, "b_t": when, "b_e": seen} for agent, (when, seen) in refreshed.items()]
            work_items.append((_REFRESH_UNCHANGED, rows))
        if last_seen:
            work_items.append((_TOUCH, [{"b_id": agent, "b_t": when} for agent, when in last_seen.items()]))
        if not work_items:
            return

        def work(conn: Connection) -> Any:
            for statement, params in work_items:
                conn.execute(statement, params)

        await self.transaction(work)

    async def events_since(self, event_id: int, limit: int = 1000) -> EventsSince:
        """The events after ``event_id`` in id order, and the last id handed out, read before them.

        Events commit in id order, so every id up to the last one returned (or, with fewer than ``limit``
        rows, up to the counter) is committed: one that is missing was deleted, not delayed.
        """
        query = (
            sa.select(
                registry_events.c.id,
                registry_events.c.event_type,
                registry_events.c.agent_id,
                registry_events.c.timestamp,
            )
            .where(registry_events.c.id > event_id)
            .order_by(registry_events.c.id)
            .limit(limit)
        )

        def work(conn: Connection) -> Any:
            last_id = conn.execute(_LAST_EVENT_ID).scalar()
            return last_id, conn.execute(query).all()

        last_id, rows = await self.run_read(work)
        return EventsSince(
            int(last_id or 0), [EventRow(r.id, r.event_type, r.agent_id, r.timestamp) for r in rows]
        )

    async def last_event_id(self) -> int:
        """The last event id handed out: every event up to it is committed (or was deleted)."""
        return int(await self.run_read(lambda conn: conn.execute(_LAST_EVENT_ID).scalar()) or 0)

    async def topology_history(self, limit: int) -> TopologyHistory:
        """The newest ``limit`` topology events, the last id handed out, and where known history starts."""

        def work(conn: Connection) -> Any:
            last_id = conn.execute(_LAST_EVENT_ID).scalar()
            oldest = conn.execute(sa.select(sa.func.min(registry_events.c.id))).scalar()
            rows = conn.execute(
                sa.select(registry_events.c.id, registry_events.c.agent_id)
                .where(registry_events.c.event_type.in_(TOPOLOGY_EVENTS))
                .order_by(registry_events.c.id.desc())
                .limit(limit)
            ).all()
            return int(last_id or 0), oldest, rows

        last_id, oldest, rows = await self.run_read(work)
        events = [(int(r.id), str(r.agent_id)) for r in reversed(rows)]
        if len(events) == limit:
            known_from = events[0][0] - 1
        else:  # every topology event still stored; trimmed or purged ones are not known
            known_from = last_id if oldest is None else int(oldest) - 1
        return TopologyHistory(last_id, known_from, events)

    # ---- registration ---------------------------------------------------------------------------

    async def candidates(self, names: Iterable[str]) -> dict[str, list[Provider]]:
        """Every tool providing one of the capability names, with its agent's health and endpoint."""
        wanted = sorted(set(names))
        found: dict[str, list[Provider]] = {name: [] for name in wanted}
        if not wanted:
            return found
        query = (
            sa.select(
                capabilities.c.agent_id,
                capabilities.c.function_name,
                capabilities.c.capability,
                capabilities.c.version,
                capabilities.c.tags,
                capabilities.c.kwargs,
                capabilities.c.dependencies,
                capabilities.c.description,
                capabilities.c.input_schema,
                agents.c.status,
                agents.c.endpoint,
            )
            .join(agents, agents.c.agent_id == capabilities.c.agent_id)
            .where(capabilities.c.capability.in_(wanted))
        )

        def work(conn: Connection) -> Any:
            rows = (conn.execute(query)).all()
            return rows

        rows = await self.run_read(work)
        for row in rows:
            required = tuple(dependency_from_json(d) for d in row.dependencies or () if d.get("required"))
            found[row.capability].append(
                Provider(
                    agent_id=row.agent_id,
                    function_name=row.function_name,
                    capability=row.capability,
                    version=row.version or "",
                    tags=tuple(row.tags or ()),
                    endpoint=row.endpoint,
                    healthy=row.status == "healthy",
                    kwargs=row.kwargs or None,
                    required_dependencies=required,
                    description=row.description,
                    input_schema=row.input_schema,
                )
            )
        return found

    async def graph_without(self, agent_id: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """(capability → agents providing it, agent → capabilities it requires), leaving agent_id out.

        For the required-dependency cycle check, which adds the registering agent's new tools itself.
        """

        def work(conn: Connection) -> Any:
            rows = (
                conn.execute(
                    sa.select(
                        capabilities.c.agent_id, capabilities.c.capability, capabilities.c.dependencies
                    ).where(capabilities.c.agent_id != agent_id)
                )
            ).all()
            return rows

        rows = await self.run_read(work)
        providers: dict[str, set[str]] = {}
        needs: dict[str, set[str]] = {}
        for row in rows:
            providers.setdefault(row.capability, set()).add(row.agent_id)
            for dep in row.dependencies or ():
                if dep.get("required"):
                    needs.setdefault(row.agent_id, set()).add(dep["capability"])
        return providers, needs

    async def save_registration(
        self,
        reg: AgentRegistration,
        now: float,
        resolution: Mapping[str, Any],
        seen_event_id: int,
        digest: bytes | None = None,
        *,
        confirm: bool = False,
    ) -> SavedRegistration:
        """Insert or update the agent, replace its tools, store schemas, resolutions, events: one commit.

        ``seen_event_id``: the newest event id the resolution had seen (read before the providers were).
        ``digest``: the registration's fingerprint, stored with the row. ``confirm``: first try to only
        move the times of a healthy row that holds exactly this content (one UPDATE): a replica sharing
        the database cannot trust its memory of what it wrote last, since another may have written since.
        """
        digest_hex = digest.hex() if digest is not None else None
        resolution = {**resolution, "seen_event_id": seen_event_id, "content_digest": digest_hex}
        confirming = {"b_id": reg.agent_id, "b_d": digest_hex, "b_t": now, "b_e": seen_event_id}

        def work(conn: Connection) -> SavedRegistration:
            confirmable = confirm and digest_hex is not None
            if confirmable and conn.execute(_CONFIRM_UNCHANGED, confirming).rowcount == 1:
                return SavedRegistration(created=False, revived=False, event_id=None, unchanged=True)
            # No SELECT ... FOR UPDATE: on InnoDB it takes gap locks that deadlock concurrent first
            # registrations. Two writers of the same new id collide on the primary key and are retried.
            existing = conn.execute(_REGISTERED, {"b_agent_id": reg.agent_id}).first()
            if existing is None:
                conn.execute(_INSERT_AGENT, {**new_agent_row(reg, now), **resolution})
            else:
                values = {**updated_agent_values(reg, dict(existing._mapping), now), **resolution}
                conn.execute(_agent_update(frozenset(values)), {**values, "b_agent_id": reg.agent_id})
                conn.execute(_DELETE_TOOLS, {"b_agent_id": reg.agent_id})
            if reg.tools:
                conn.execute(_INSERT_TOOLS, self._tool_rows(reg))
            self._store_schemas(conn, reg.schemas, now)
            created = existing is None
            revived = existing is not None and existing.status != "healthy"
            event_id = None
            if (created or revived) and reg.agent_type != "api":
                data = (
                    register_event_data(reg)
                    if existing is None
                    else recovery_event_data(existing.status, now)
                )
                event_id = self._event(conn, "register", reg.agent_id, reg.name, now, data)
            return SavedRegistration(created, revived, event_id)

        return await self.transaction(work)

    @staticmethod
    def _tool_rows(reg: AgentRegistration) -> list[dict[str, Any]]:
        return [
            {
                "agent_id": reg.agent_id,
                "position": position,
                "function_name": tool.function_name,
                "capability": tool.capability,
                "version": tool.version,
                "description": tool.description,
                "tags": list(tool.tags),
                "input_schema": tool.input_schema,
                "output_schema": tool.output_schema,
                "input_schema_hash": tool.input_schema_hash,
                "output_schema_hash": tool.output_schema_hash,
                "schema_warnings": list(tool.schema_warnings) or None,
                "llm_filter": tool.llm_filter,
                "llm_provider": tool.llm_provider,
                "kwargs": tool.kwargs,
                "dependencies": [d.to_json() for d in tool.dependencies] or None,
            }
            for position, tool in enumerate(reg.tools)
        ]

    def _store_schemas(self, conn: Connection, entries: Sequence[SchemaEntry], now: float) -> None:
        unique = {e.hash: e for e in entries}
        if not unique:
            return
        present = set(
            (
                conn.execute(sa.select(schema_entries.c.hash).where(schema_entries.c.hash.in_(unique)))
            ).scalars()
        )
        rows = [
            {"hash": e.hash, "canonical": e.canonical, "runtime_origin": e.runtime_origin, "created_at": now}
            for h, e in unique.items()
            if h not in present
        ]
        if rows:
            conn.execute(self._insert_ignore(schema_entries), rows)

    def _insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that skips rows whose key already exists (another replica may have just added it)."""
        if self.database_type == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        if self.database_type == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        return sa.insert(table).prefix_with("IGNORE")

    @staticmethod
    def _take_event_ids(conn: Connection, count: int) -> int:
        """Reserve ``count`` consecutive event ids; return the first.

        The counter row stays locked until this transaction commits, so no later id can commit first.
        Take it last in a transaction, after the agent rows it writes, to keep the lock short and the
        lock order the same everywhere.
        """
        conn.execute(_TAKE_EVENT_IDS, {"b_count": count})
        return int(conn.execute(_LAST_EVENT_ID).scalar_one()) - count + 1

    @classmethod
    def _event(
        cls,
        conn: Connection,
        event_type: str,
        agent_id: str,
        agent_name: str | None,
        now: float,
        data: dict[str, Any],
    ) -> int:
        event_id = cls._take_event_ids(conn, 1)
        conn.execute(
            _INSERT_EVENT,
            {
                "id": event_id,
                "event_type": event_type,
                "agent_id": agent_id,
                "agent_name": agent_name,
                "timestamp": now,
                "data": data,
            },
        )
        return event_id

    async def record_event(self, event_type: str, agent_id: str, now: float, data: dict[str, Any]) -> int:
        """Write one event on its own (for example the restore marker)."""

        def work(conn: Connection) -> Any:
            return self._event(conn, event_type, agent_id, None, now, data)

        return await self.transaction(work)

    async def unregister(self, agent_id: str, now: float) -> int | None:
        """Mark the agent unhealthy (last-seen kept) with an ``unregister`` event; None when unknown."""

        def work(conn: Connection) -> int | None:
            row = (
                conn.execute(
                    sa.select(agents.c.name, agents.c.status, agents.c.agent_type, agents.c.version).where(
                        agents.c.agent_id == agent_id
                    )
                )
            ).first()
            if row is None:
                return None
            conn.execute(sa.update(agents).where(agents.c.agent_id == agent_id).values(status="unhealthy"))
            data = unregister_event_data(row.agent_type, row.name, row.version)
            return self._event(conn, "unregister", agent_id, row.name, now, data)

        return await self.transaction(work)

    # ---- health monitor -------------------------------------------------------------------------

    async def mark_stale_unhealthy(
        self, cutoff: float, now: float, reason: str, keep: Collection[str] = ()
    ) -> list[tuple[str, int]]:
        """Healthy agents silent since before cutoff turn unhealthy with an event: [(agent id, event id)].

        ``keep``: agents heard from since cutoff whose times are not written yet (a batch in flight).
        """

        def work(conn: Connection) -> Any:
            stale = (
                conn.execute(
                    sa.select(agents.c.agent_id, agents.c.name, agents.c.updated_at).where(
                        agents.c.status == "healthy", agents.c.updated_at < cutoff
                    )
                )
            ).all()
            changed = []
            for row in stale:
                if row.agent_id in keep:
                    continue
                result = conn.execute(
                    sa.update(agents)
                    .where(
                        agents.c.agent_id == row.agent_id,
                        agents.c.status == "healthy",
                        agents.c.updated_at == row.updated_at,
                    )
                    .values(status="unhealthy")
                )
                if result.rowcount == 1:  # else a heartbeat won the race
                    changed.append(row)
            if not changed:
                return []
            data = unhealthy_event_data(reason, now)
            first = self._take_event_ids(conn, len(changed))  # after every agent row: see _take_event_ids
            rows = [
                {
                    "id": first + offset,
                    "event_type": "unhealthy",
                    "agent_id": row.agent_id,
                    "agent_name": row.name,
                    "timestamp": now,
                    "data": data,
                }
                for offset, row in enumerate(changed)
            ]
            conn.execute(_INSERT_EVENT, rows)
            return [(row["agent_id"], row["id"]) for row in rows]

        changed = await self.transaction(work)
        return changed

    async def trim_events(self, max_rows: int) -> int:
        """Keep about the newest max_rows events (by id); return how many were deleted."""

        def work(conn: Connection) -> int:
            newest = conn.execute(sa.select(sa.func.max(registry_events.c.id))).scalar()
            if newest is None or newest <= max_rows:
                return 0
            result = conn.execute(sa.delete(registry_events).where(registry_events.c.id <= newest - max_rows))
            return int(result.rowcount or 0)

        return await self.transaction(work)

    async def purge_unhealthy(self, cutoff: float) -> list[str]:
        """Delete unhealthy agents last seen before cutoff, with their tools and events."""

        def work(conn: Connection) -> Any:
            doomed = list(
                (
                    conn.execute(
                        sa.select(agents.c.agent_id).where(
                            agents.c.status == "unhealthy", agents.c.updated_at < cutoff
                        )
                    )
                ).scalars()
            )
            for chunk_start in range(0, len(doomed), 500):
                chunk = doomed[chunk_start : chunk_start + 500]
                conn.execute(sa.delete(capabilities).where(capabilities.c.agent_id.in_(chunk)))
                conn.execute(sa.delete(registry_events).where(registry_events.c.agent_id.in_(chunk)))
                conn.execute(sa.delete(agents).where(agents.c.agent_id.in_(chunk)))
            return doomed

        doomed = await self.transaction(work)
        return doomed

    # ---- reads ----------------------------------------------------------------------------------

    async def list_agents(
        self, flt: AgentFilter, agent_ids: Collection[str]
    ) -> tuple[list[Any], dict[str, list[Any]], dict[str, str]]:
        """(agent rows, their tools by agent id, their statuses) for these few agents (a few hundred)."""
        rows: list[Any] = []
        tools: dict[str, list[Any]] = {}

        def keep(chunk: list[Any], chunk_tools: dict[str, list[Any]], _statuses: dict[str, str]) -> None:
            rows.extend(chunk)
            tools.update(chunk_tools)

        statuses = await self.visit_agents(flt, keep, agent_ids)
        return rows, tools, statuses

    async def visit_agents(
        self,
        flt: AgentFilter,
        visit: Callable[[list[Any], dict[str, list[Any]], dict[str, str]], None],
        agent_ids: Collection[str] | None = None,
        chunk_size: int = 500,
    ) -> dict[str, str]:
        """Call ``visit(rows, tools by agent id, statuses)`` per chunk of matching agents, in id order.

        Runs in the reader (a thread on SQLite), so a whole mesh is never held as rows at once: at 10,000
        agents that transient would leave the process larger for good (freed memory stays fragmented).
        ``statuses``: of every agent (of just ``agent_ids`` when given), for the resolutions' providers.
        Returns the statuses.
        """
        query = self._agent_query(flt, agent_ids)
        status_query = sa.select(agents.c.agent_id, agents.c.status)
        if agent_ids is not None:
            status_query = status_query.where(agents.c.agent_id.in_(sorted(agent_ids)))

        def work(conn: Connection) -> dict[str, str]:
            statuses = {str(r.agent_id): str(r.status) for r in conn.execute(status_query)}
            for partition in conn.execute(query).partitions(chunk_size):
                rows = list(partition)
                visit(rows, self._tools_of(conn, [r.agent_id for r in rows]), statuses)
            return statuses

        return await self.run_read(work)

    @staticmethod
    def _agent_query(flt: AgentFilter, agent_ids: Collection[str] | None) -> sa.Select[Any]:
        query = sa.select(agents).order_by(agents.c.agent_id)
        if agent_ids is not None:
            query = query.where(agents.c.agent_id.in_(sorted(agent_ids)))
        if flt.status:
            query = query.where(agents.c.status == flt.status)
        if flt.namespace:
            query = query.where(agents.c.namespace == flt.namespace)
        if flt.agent_type:
            query = query.where(agents.c.agent_type == flt.agent_type)
        if flt.capabilities:
            if flt.fuzzy:
                match = sa.or_(
                    *(sa.func.lower(capabilities.c.capability).contains(c.lower()) for c in flt.capabilities)
                )
            else:
                match = capabilities.c.capability.in_(flt.capabilities)
            query = query.where(agents.c.agent_id.in_(sa.select(capabilities.c.agent_id).where(match)))
        return query

    @staticmethod
    def _tools_of(conn: Connection, ids: list[str]) -> dict[str, list[Any]]:
        tools: dict[str, list[Any]] = {}
        if ids:
            tool_query = (
                sa.select(*_LISTED_TOOL_COLUMNS)
                .where(capabilities.c.agent_id.in_(ids))
                .order_by(capabilities.c.agent_id, capabilities.c.position)
            )
            for tool in conn.execute(tool_query):
                tools.setdefault(tool.agent_id, []).append(tool)
        return tools

    async def capability_index(self) -> list[Any]:
        """Every tool with its agent's id, endpoint and status, for GET /capabilities."""
        query = (
            sa.select(
                capabilities.c.capability,
                capabilities.c.function_name,
                capabilities.c.version,
                capabilities.c.tags,
                agents.c.agent_id,
                agents.c.endpoint,
                agents.c.status,
            )
            .join(agents, agents.c.agent_id == capabilities.c.agent_id)
            .order_by(capabilities.c.capability, agents.c.agent_id, capabilities.c.position)
        )

        def work(conn: Connection) -> Any:
            return list((conn.execute(query)).all())

        return await self.run_read(work)

    async def list_events(
        self, event_type: str | None, agent_id: str | None, function_name: str | None, limit: int
    ) -> list[Any]:
        query = sa.select(registry_events).order_by(registry_events.c.id.desc()).limit(limit)
        if event_type:
            query = query.where(registry_events.c.event_type == event_type)
        if agent_id:
            query = query.where(registry_events.c.agent_id == agent_id)
        if function_name:
            query = query.where(registry_events.c.function_name == function_name)

        def work(conn: Connection) -> Any:
            return list((conn.execute(query)).all())

        return await self.run_read(work)

    async def list_schemas(self, limit: int) -> list[Any]:
        # Newest first, as the Go registry (meshctl list --schemas shows "the most recent" ones).
        query = sa.select(schema_entries).order_by(schema_entries.c.created_at.desc(), schema_entries.c.hash)

        def work(conn: Connection) -> Any:
            return list((conn.execute(query.limit(limit))).all())

        return await self.run_read(work)

    async def get_schema(self, digest: str) -> Any | None:
        def work(conn: Connection) -> Any:
            return (conn.execute(sa.select(schema_entries).where(schema_entries.c.hash == digest))).first()

        return await self.run_read(work)

    async def count_by_status(self) -> dict[str, int]:
        def work(conn: Connection) -> Any:
            rows = (conn.execute(sa.select(agents.c.status, sa.func.count()).group_by(agents.c.status))).all()
            return rows

        rows = await self.run_read(work)
        return {status: int(count) for status, count in rows}

    # ---- backup / restore -----------------------------------------------------------------------

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every agent, tool and schema as plain JSON-able rows."""

        def work(conn: Connection) -> Any:
            return {
                "agents": [dict(r._mapping) for r in (conn.execute(sa.select(agents))).all()],
                "capabilities": [
                    {k: v for k, v in r._mapping.items() if k != "id"}
                    for r in (conn.execute(sa.select(capabilities).order_by(capabilities.c.id))).all()
                ],
                "schema_entries": [dict(r._mapping) for r in (conn.execute(sa.select(schema_entries))).all()],
            }

        return await self.run_read(work)

    async def replace_all(self, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Replace the whole registry content with a snapshot, in one transaction."""

        def work(conn: Connection) -> Any:
            conn.execute(sa.delete(capabilities))
            conn.execute(sa.delete(registry_events))
            conn.execute(sa.delete(agents))
            conn.execute(sa.delete(schema_entries))
            for table in (agents, capabilities, schema_entries):
                rows = [dict(r) for r in data.get(table.name, ())]
                if table is agents:  # every restored agent's resolution was computed on other data
                    rows = [{**row, "seen_event_id": 0} for row in rows]
                for start in range(0, len(rows), 500):
                    conn.execute(sa.insert(table), rows[start : start + 500])

        await self.transaction(work)
