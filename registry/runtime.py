"""The composition root: builds the storage, hot-path memory, service, monitor and metrics from Settings."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.exc import DBAPIError

from registry.clock import SYSTEM_CLOCK, Clock
from registry.config import Settings
from registry.jobs import JobService
from registry.leadership import AlwaysLeader, Leadership
from registry.liveness import Liveness
from registry.metrics import RegistryMetrics
from registry.monitor import HealthMonitor
from registry.proxy import AgentProxy
from registry.service import RegistryService
from registry.storage.engine import create_engine
from registry.storage.instrumentation import time_statements
from registry.storage.jobs import JobStore
from registry.storage.migrations import migrate
from registry.storage.repository import Storage

log = logging.getLogger("registry")


def build_leadership(settings: Settings) -> Leadership:
    """AlwaysLeader when election is off; otherwise the Lease-based elector."""
    if not settings.leader_election.enabled:
        return AlwaysLeader()
    from registry.leader import create_leadership  # the Kubernetes client loads only when election is on

    return create_leadership(settings)


class RegistryRuntime:
    """Everything one registry process runs, started and stopped together."""

    def __init__(
        self, settings: Settings, leadership: Leadership | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.started_at = time.monotonic()
        self.metrics = RegistryMetrics()
        self.engine = create_engine(settings.database_url, settings.database_type)
        self.storage = Storage(self.engine, settings.database_type)
        for engine in {id(e): e for e in (self.engine.sync_engine, self.storage.statement_engine)}.values():
            time_statements(engine, self.metrics)
        self.liveness = Liveness(
            self.storage, self.metrics, flush_interval=settings.last_seen_flush_interval, clock=clock
        )
        self.service = RegistryService(self.storage, self.liveness, clock)
        self.leadership = leadership or build_leadership(settings)
        self.monitor = HealthMonitor(
            self.storage,
            self.liveness,
            self.leadership,
            self.metrics,
            interval=settings.health_check_interval,
            timeout=settings.agent_timeout,
            retention=settings.agent_retention,
            event_max_rows=settings.event_max_rows,
            clock=clock,
        )
        self.job_store = JobStore(self.storage)
        self.job_service = JobService(self.job_store, self.leadership)
        self.proxy = AgentProxy(self.storage)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    async def start(self) -> None:
        """Migrate the schema, then start syncing, campaigning and monitoring."""
        before, after = await self._migrate_when_reachable()
        log.info(
            "database ready",
            extra={
                "database": self.settings.database_type,
                "url": self.settings.safe_database_url,
                "schema_version": after,
                "migrated_from": before,
            },
        )
        await self.liveness.start()
        await self.leadership.start()
        await self.monitor.start()
        await self.job_service.start()

    async def _migrate_when_reachable(self) -> tuple[int, int]:
        """Migrate, waiting up to DATABASE_CONNECT_TIMEOUT for a database that is still starting."""
        deadline = time.monotonic() + self.settings.database_connect_timeout
        while True:
            try:
                return await migrate(self.engine)
            except (OSError, DBAPIError) as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning(
                    "database not reachable yet; retrying",
                    extra={"database": self.settings.database_type, "error": str(exc).splitlines()[0][:200]},
                )
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Stop the monitor and the job sweep, release leadership, flush batched writes, close the pool."""
        await self.monitor.stop()
        await self.job_service.stop()
        await self.proxy.stop()
        try:
            await self.leadership.stop()
        finally:
            try:
                await self.liveness.stop()
            finally:
                await self.storage.close()
                await self.engine.dispose()
