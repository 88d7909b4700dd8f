"""The hot path's memory: agent states, batched times, and the order of topology events.

``HEAD /heartbeat/{id}`` answers from here without a database transaction, and so does a re-posted,
unchanged heartbeat on a database this replica writes alone; their times are flushed in batches. The
newest events are polled about once a second so that several replicas on one shared database see each
other's registrations, unregistrations and health changes.

Whether an agent's resolution is stale is decided by event ids, never by clocks. ``event_watermark``
is the id up to which every event is known here; a registration records it before reading providers,
so any topology event by another agent with a higher id may be one its resolution missed: a 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from bisect import bisect_left
from collections import deque

from registry.clock import SYSTEM_CLOCK, Clock
from registry.metrics import RegistryMetrics
from registry.storage.repository import AgentState, Storage
from registry.storage.schema import TOPOLOGY_EVENTS

log = logging.getLogger("registry.liveness")

SYNC_INTERVAL = 1.0
CHANGE_LOG_SIZE = 10_000  # versions remembered by changed_since
TOPOLOGY_LOG_SIZE = 10_000  # topology events remembered; an agent that saw none of them gets a 202
ALL_AGENTS = "*"  # an event on this id (a restore) invalidates every cached agent


class Liveness:
    """In-memory agent states and pending last-seen times, kept in sync with the database."""

    def __init__(
        self,
        storage: Storage,
        metrics: RegistryMetrics,
        sync_interval: float = SYNC_INTERVAL,
        flush_interval: float = SYNC_INTERVAL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.storage = storage
        self.metrics = metrics  # the batched writer reports each flush: its size, duration, lag, failure
        self.clock = clock
        self.sync_interval = sync_interval
        self.flush_interval = flush_interval
        self.states: dict[str, AgentState] = {}
        self.pending_seen: dict[str, float] = {}
        # unchanged re-posts: (last-seen and last-full-refresh, the event id their resolution saw)
        self.pending_refresh: dict[str, tuple[float, int]] = {}
        self.latest_seen: dict[str, float] = {}
        # Bumped whenever what GET /agents shows may have changed (besides last-seen times); each bump
        # is logged with the agent it concerns (ALL_AGENTS for everything) so views can update in part.
        self.version = 0
        self._changes: deque[tuple[int, str]] = deque(maxlen=CHANGE_LOG_SIZE)
        # Every event with an id up to here has been applied here (ids have no holes but deleted rows).
        self.event_watermark = 0
        self._noted_ahead: list[int] = []  # a heap: our own events above the watermark, not yet contiguous
        self._topology: list[tuple[int, str]] = []  # (event id, agent id), by id
        self._topology_known_from = 0  # topology events at or below this id may be missing
        self._own_events: set[int] = set()
        self._own_order: deque[int] = deque()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._validated: dict[str, float] = {}
        self._deferred_event = 0  # an unknown event seen while our own writes were in flight
        # True when other processes may write the same database: PostgreSQL/MySQL are shared by design,
        # a SQLite file once an event from another process shows up. Then cached states may miss that
        # process's POSTs (which write no event), so a 202 is confirmed against the database.
        self.shared_database = storage.database_type != "sqlite"

    async def start(self) -> None:
        history = await self.storage.topology_history(TOPOLOGY_LOG_SIZE)
        self.event_watermark = history.last_event_id
        self._topology = history.events
        self._topology_known_from = history.known_from
        self._task = asyncio.create_task(self._run(), name="liveness-sync")

    async def stop(self) -> None:
        """Stop syncing and write the last pending last-seen times."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def state(self, agent_id: str, refresh: bool = False) -> AgentState | None:
        """The agent's state, from memory unless missing or refresh is asked (then one SELECT)."""
        if not refresh:
            cached = self.states.get(agent_id)
            if cached is not None:
                return cached
        state = await self.storage.agent_state(agent_id)
        if state is None:
            self.states.pop(agent_id, None)
        else:
            self.states[agent_id] = state
            self._validated[agent_id] = time.monotonic()
        return state

    def needs_confirmation(self, agent_id: str) -> bool:
        """Whether a 202 from memory must be checked against the database first.

        Only when other writers exist, and at most once per sync interval per agent.
        """
        if not self.shared_database:
            return False
        return time.monotonic() - self._validated.get(agent_id, 0.0) > self.sync_interval

    def seen(self, agent_id: str, when: float) -> None:
        """Note a fast heartbeat; written with the next batch."""
        self.pending_seen[agent_id] = when
        self.latest_seen[agent_id] = when

    def last_seen(self, agent_id: str) -> float | None:
        """The newest fast heartbeat or POST this replica saw from the agent."""
        return self.latest_seen.get(agent_id)

    def topology_changed(self, agent_id: str, seen_event_id: int) -> bool:
        """Whether a topology event by another agent, newer than ``seen_event_id``, is known here.

        The agent's own register event does not count: it cannot change the agent's own resolution.
        """
        if not self._topology or self._topology[-1][0] <= seen_event_id:
            return False
        for event_id, about in reversed(self._topology):
            if event_id <= seen_event_id:
                return False
            if about != agent_id:
                return True
        return seen_event_id < self._topology_known_from  # older history is gone: it may have missed some

    def registered(self, agent_id: str, when: float, event_id: int | None, seen_event_id: int) -> None:
        """A POST on this replica stored the agent: it is healthy, resolved on events up to ``seen_event_id``.

        Only a written event (a ``register``) is a topology change for the other agents' HEADs: an update
        of a known agent writes none, so it must not turn their next HEAD into a 202 (spec §3).
        """
        self.states[agent_id] = AgentState("healthy", seen_event_id)
        self.pending_seen.pop(agent_id, None)
        self.pending_refresh.pop(agent_id, None)
        self.latest_seen[agent_id] = when
        self._changed(agent_id)
        self._own_event(event_id, agent_id, topology=event_id is not None)

    def refreshed(self, agent_id: str, when: float, seen_event_id: int) -> None:
        """A healthy agent re-posted exactly what is stored: times and seen id go out in the next batch."""
        self.states[agent_id] = AgentState("healthy", seen_event_id)
        self.pending_seen.pop(agent_id, None)
        self.pending_refresh[agent_id] = (when, seen_event_id)
        self.latest_seen[agent_id] = when

    def confirmed(self, agent_id: str, when: float, seen_event_id: int) -> None:
        """A healthy agent re-posted what the shared database holds, and its times were written there."""
        self.states[agent_id] = AgentState("healthy", seen_event_id)
        self.pending_seen.pop(agent_id, None)
        self.pending_refresh.pop(agent_id, None)
        self.latest_seen[agent_id] = when

    def seen_since(self, cutoff: float) -> set[str]:
        """Agents this replica heard from at or after cutoff (a HEAD or a POST), written or not."""
        return {agent_id for agent_id, when in self.latest_seen.items() if when >= cutoff}

    def status_changed(self, agent_id: str, status: str, event_id: int | None) -> None:
        """An unregister or an unhealthy mark written on this replica."""
        old = self.states.get(agent_id)
        self.states[agent_id] = AgentState(status, old.seen_event_id if old else 0)
        self.pending_seen.pop(agent_id, None)
        self.pending_refresh.pop(agent_id, None)
        self._changed(agent_id)
        self._own_event(event_id, agent_id, topology=True)

    def forget(self, agent_id: str) -> None:
        self.states.pop(agent_id, None)
        self._validated.pop(agent_id, None)
        self.pending_seen.pop(agent_id, None)
        self.pending_refresh.pop(agent_id, None)
        self.latest_seen.pop(agent_id, None)
        self._changed(agent_id)

    def restored(self, event_id: int) -> None:
        """The whole content was replaced: forget everything; every agent's next HEAD says 202."""
        self.states.clear()
        self.pending_seen.clear()
        self.pending_refresh.clear()
        self.latest_seen.clear()
        self._changed(ALL_AGENTS)
        self._own_event(event_id, ALL_AGENTS, topology=True)

    def _changed(self, agent_id: str) -> None:
        self.version += 1
        self._changes.append((self.version, agent_id))

    def changed_since(self, version: int) -> set[str] | None:
        """The agents changed after ``version``; None when that is unknown or everything changed."""
        if version == self.version:
            return set()
        if not self._changes or self._changes[0][0] > version + 1:
            return None  # older than the log remembers
        changed = set()
        for bumped, agent_id in reversed(self._changes):
            if bumped <= version:
                break
            if agent_id == ALL_AGENTS:
                return None
            changed.add(agent_id)
        return changed

    def _own_event(self, event_id: int | None, agent_id: str, topology: bool) -> None:
        if event_id is None:
            return
        if topology:
            self._note_topology(event_id, agent_id)
        self._own_events.add(event_id)
        self._own_order.append(event_id)
        while len(self._own_order) > 10_000:
            self._own_events.discard(self._own_order.popleft())
        if event_id > self.event_watermark:
            heapq.heappush(self._noted_ahead, event_id)
            self._advance_watermark(self.event_watermark)

    def _advance_watermark(self, to: int) -> None:
        """Move the watermark to ``to`` (all below it is applied), then over our own contiguous events."""
        watermark = max(self.event_watermark, to)
        while self._noted_ahead and self._noted_ahead[0] <= watermark + 1:
            watermark = max(watermark, heapq.heappop(self._noted_ahead))
        self.event_watermark = watermark

    def _note_topology(self, event_id: int, agent_id: str) -> None:
        if not self._topology or self._topology[-1][0] < event_id:
            self._topology.append((event_id, agent_id))
        else:
            at = bisect_left(self._topology, (event_id, ""))
            if at < len(self._topology) and self._topology[at][0] == event_id:
                return  # already noted
            self._topology.insert(at, (event_id, agent_id))
        if len(self._topology) > TOPOLOGY_LOG_SIZE:
            dropped = self._topology[: len(self._topology) - TOPOLOGY_LOG_SIZE]
            del self._topology[: len(dropped)]
            self._topology_known_from = max(self._topology_known_from, dropped[-1][0])

    async def flush(self) -> None:
        """Write pending times in one batch (kept for the next try if the database fails)."""
        async with self._flush_lock:
            if not self.pending_seen and not self.pending_refresh:
                return
            seen, self.pending_seen = self.pending_seen, {}
            refreshed, self.pending_refresh = self.pending_refresh, {}
            oldest = min(
                min(seen.values(), default=float("inf")),
                min((when for when, _ in refreshed.values()), default=float("inf")),
            )
            started = time.perf_counter()
            try:
                await self.storage.touch(seen, refreshed)
            except Exception:
                self.metrics.flush_failed()
                for agent_id, when in seen.items():
                    self.pending_seen.setdefault(agent_id, when)
                for agent_id, refresh in refreshed.items():
                    self.pending_refresh.setdefault(agent_id, refresh)
                raise
            elapsed = time.perf_counter() - started
            self.metrics.flush_done(len(seen) + len(refreshed), elapsed, self.clock.now() - oldest)

    async def sync(self, batch: int = 1000) -> None:
        """Apply events other replicas wrote since the last look: invalidate those agents.

        Events commit in id order (see ``Storage.events_since``), so the watermark may pass every id read,
        and, when the read was not cut short, every id the counter had handed out before it.
        """
        while True:
            since = await self.storage.events_since(self.event_watermark, batch)
            for event in since.events:
                own = event.id in self._own_events
                if not own and self.storage.writes_in_flight and event.id != self._deferred_event:
                    # Perhaps a write of ours that has committed but not yet noted its event: look again
                    # next time (once) rather than take this process for one of several writers.
                    self._deferred_event = event.id
                    return
                self._advance_watermark(event.id)
                if own:
                    continue  # noted when it was written
                if event.event_type in TOPOLOGY_EVENTS:
                    self._note_topology(event.id, event.agent_id)
                self.shared_database = True
                self._changed(event.agent_id)
                if event.agent_id == ALL_AGENTS:
                    self.states.clear()
                else:
                    self.states.pop(event.agent_id, None)
            if len(since.events) < batch:
                self._advance_watermark(since.last_event_id)
                return

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_flush = loop.time()
        while True:
            await asyncio.sleep(min(self.sync_interval, self.flush_interval))
            try:
                if loop.time() - last_flush >= self.flush_interval:
                    last_flush = loop.time()
                    await self.flush()
                await self.sync()
            except Exception as exc:  # the database may be briefly away: try again next tick
                log.warning("liveness sync failed", extra={"error": str(exc)})
