"""The health monitor: silent agents turn unhealthy, long-unhealthy agents are purged.

Runs every HEALTH_CHECK_INTERVAL on the leader only (every replica leads when election is off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from registry.clock import SYSTEM_CLOCK, Clock
from registry.leadership import Leadership
from registry.liveness import Liveness
from registry.metrics import RegistryMetrics
from registry.storage.repository import Storage

log = logging.getLogger("registry.monitor")


class HealthMonitor:
    """Marks agents silent past ``timeout`` unhealthy and purges those unhealthy past ``retention``."""

    def __init__(
        self,
        storage: Storage,
        liveness: Liveness,
        leadership: Leadership,
        metrics: RegistryMetrics,
        *,
        interval: float,
        timeout: float,
        retention: float,
        event_max_rows: int = 100_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.storage, self.liveness, self.leadership, self.metrics = storage, liveness, leadership, metrics
        self.interval, self.timeout, self.retention = interval, timeout, retention
        self.event_max_rows = event_max_rows
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> tuple[list[str], list[str]]:
        """One pass: (agents marked unhealthy, agents purged). Does nothing unless this replica leads."""
        if not self.leadership.is_leader:
            return [], []
        await self.liveness.flush()
        now = self.clock.now()
        cutoff = now - self.timeout
        # A HEAD or an unchanged re-post that arrived after the flush is in memory only: not stale.
        fresh = self.liveness.seen_since(cutoff)
        changed = await self.storage.mark_stale_unhealthy(cutoff, now, "health_degradation", keep=fresh)
        for agent_id, event_id in changed:
            self.liveness.status_changed(agent_id, "unhealthy", event_id)
            log.info("agent unhealthy", extra={"agent_id": agent_id, "timeout_s": self.timeout})
        purged: list[str] = []
        if self.retention > 0:
            purged = await self.storage.purge_unhealthy(now - self.retention)
            for agent_id in purged:
                self.liveness.forget(agent_id)
            if purged:
                log.info("agents purged", extra={"count": len(purged), "retention_s": self.retention})
        if self.event_max_rows > 0:
            trimmed = await self.storage.trim_events(self.event_max_rows)
            if trimmed:
                log.info("old events trimmed", extra={"count": trimmed, "max_rows": self.event_max_rows})
        self.metrics.monitor_runs.inc()
        self.metrics.marked_unhealthy.inc(len(changed))
        self.metrics.purged.inc(len(purged))
        return [agent_id for agent_id, _ in changed], purged

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="health-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as exc:
                log.warning("health check failed", extra={"error": str(exc)})
            await asyncio.sleep(self.interval)
