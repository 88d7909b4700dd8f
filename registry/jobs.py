"""MeshJobs behind the routes: drain, long-polled event logs, cancel forwarding and the lease sweep.

Job state lives in the database (``registry.storage.jobs``); what this module keeps in memory is only
per replica by nature, as in the Go registry: whether this replica is draining (claims answer "no
work" while running jobs finish), and the wake-up of long-polls waiting on this replica. Long-polls
also re-read the database every ``EVENT_POLL_INTERVAL``, so an event another replica stored arrives
too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from registry import clock
from registry.leadership import Leadership
from registry.storage.jobs import JobStore

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("registry.jobs")

EVENT_POLL_INTERVAL = 0.25  # seconds between database reads of a long-poll
MAX_EVENT_WAIT = 60  # seconds a long-poll may wait (as the Go registry)
CANCEL_FORWARD_TIMEOUT = 5.0
CANCEL_EVENT_GRACE = 0.2  # lets a handler parked on recv_event see "cancelled" before it is interrupted
SWEEP_INTERVAL = 5.0
FORWARDED_HEADERS = ("X-Trace-ID", "X-Parent-Span", "X-Mesh-Timeout")


class JobService:
    """Drain state, event waits, cancel forwarding and the expired-lease sweep of one replica."""

    def __init__(self, store: JobStore, leadership: Leadership) -> None:
        self.store = store
        self.leadership = leadership
        self.draining = False
        self._posted = asyncio.Condition()
        self._closing = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._forwards: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="job-lease-sweep")

    def close_waits(self) -> None:
        """Let every long-poll answer now (shutdown must not wait a minute for them)."""
        self._closing.set()

    async def stop(self) -> None:
        self.close_waits()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._forwards:
            await asyncio.wait(self._forwards, timeout=CANCEL_FORWARD_TIMEOUT)
        if self._client is not None:
            await self._client.aclose()

    async def notify_posted(self) -> None:
        """Wake this replica's long-polls: an event was just stored."""
        async with self._posted:
            self._posted.notify_all()

    async def wait_events(
        self, job_id: str, after: int, types: Sequence[str], wait: float, limit: int
    ) -> list[Any] | None:
        """Events after ``after``, waiting up to ``wait`` seconds for the first; None for an unknown job."""
        deadline = asyncio.get_running_loop().time() + max(0.0, min(wait, MAX_EVENT_WAIT))
        while True:
            rows = await self.store.events(job_id, after, types, limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if rows is None or rows or remaining <= 0 or self._closing.is_set():
                return rows
            async with self._posted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._posted.wait(), min(EVENT_POLL_INTERVAL, remaining))

    def forward_cancel(self, owner: str, job_id: str, reason: str, headers: Mapping[str, str]) -> None:
        """Tell the owner agent (``POST {endpoint}/jobs/{id}/cancel``) in the background, best effort."""
        task = asyncio.create_task(self._forward_cancel(owner, job_id, reason, dict(headers)))
        self._forwards.add(task)
        task.add_done_callback(self._forwards.discard)

    def _http(self) -> httpx.AsyncClient:
        """The pool, made at the first forwarded cancel: httpx costs a replica ~5 MiB, most never forward."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=CANCEL_FORWARD_TIMEOUT, follow_redirects=False, trust_env=False
            )
        return self._client

    async def _forward_cancel(self, owner: str, job_id: str, reason: str, headers: dict[str, str]) -> None:
        import httpx

        await asyncio.sleep(CANCEL_EVENT_GRACE)
        try:
            endpoint = await self.store.owner_endpoint(owner)
            if not endpoint:
                log.info("cancel not forwarded: owner unknown", extra={"job_id": job_id, "owner": owner})
                return
            body = {"reason": reason} if reason else None
            response = await self._http().post(
                f"{endpoint.rstrip('/')}/jobs/{job_id}/cancel", json=body, headers=headers
            )
            if response.status_code >= 300:
                log.info(
                    "cancel forward answered",
                    extra={"job_id": job_id, "owner": owner, "status": response.status_code},
                )
        except (httpx.HTTPError, OSError) as exc:
            log.info(
                "cancel forward failed", extra={"job_id": job_id, "owner": owner, "error": str(exc)[:200]}
            )
        except Exception as exc:  # the database may be away: the job is cancelled in it regardless
            log.warning("cancel forward failed", extra={"job_id": job_id, "error": str(exc)[:200]})

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            if not self.leadership.is_leader:
                continue
            try:
                reclaimed = await self.store.reclaim_expired(clock.now())
            except Exception as exc:  # the database may be briefly away: try again next tick
                log.warning("job lease sweep failed", extra={"error": str(exc)[:200]})
                continue
            if reclaimed:
                log.info("expired job leases reclaimed", extra={"jobs": reclaimed})
