"""MeshJob state in the database: the ``jobs`` and ``job_events`` tables and every query on them.

Jobs are durable like agents: every answer the registry gives about a job is read from (or committed
to) the database first, so any replica on a shared database serves any job and a restart (``kill -9``
included) loses nothing that was acknowledged. Concurrent writers (replicas, or a claim racing a
cancel) are kept apart by guarded updates: each write repeats, in its WHERE clause, the state it was
decided on, and a lost race is classified by reading the row again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry.storage.repository import Storage
from registry.storage.schema import BigId, agents, metadata

TERMINAL = ("completed", "failed", "cancelled")
STATUSES = ("working", "input_required", *TERMINAL)
DEFAULT_LEASE_SECONDS = 300  # a claim's lease when the job sets no max_duration (as the Go registry)
CLAIM_ATTEMPTS = 8  # candidates tried per claim when concurrent claimers win the first ones

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("capability", sa.String(255), nullable=False),
    sa.Column("owner_instance_id", sa.String(253), nullable=True, index=True),
    sa.Column("claim_epoch", sa.BigInteger, nullable=False, default=0),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Double, nullable=True),
    sa.Column("progress_message", sa.Text, nullable=True),
    sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("submitted_payload", sa.JSON, nullable=False),
    sa.Column("recv_cursor", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("attempt_count", sa.Integer, nullable=False, default=0),
    sa.Column("max_retries", sa.Integer, nullable=False, default=1),
    sa.Column("max_duration", sa.Integer, nullable=True),
    sa.Column("total_deadline", sa.BigInteger, nullable=True),
    sa.Column("lease_expires_at", sa.Double, nullable=True, index=True),
    sa.Column("last_heartbeat_at", sa.Double, nullable=True),
    sa.Column("submitted_at", sa.Double, nullable=False),
    sa.Column("submitted_by", sa.String(253), nullable=True),
    sa.Index("ix_jobs_capability_status", "capability", "status"),
    sa.Index("ix_jobs_submitted", "submitted_at", "job_id"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("trace_context", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("posted_by", sa.String(253), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),
)

JOB_TABLES = (jobs, job_events)


class JobNotFound(LookupError):
    """No job has this id."""


class JobTerminal(RuntimeError):
    """The job already reached completed, failed or cancelled."""


class NotOwner(PermissionError):
    """The caller does not hold the job's claim."""


class ReclaimConflict(RuntimeError):
    """Another instance claimed the job between our read and our write."""


@dataclass(frozen=True)
class NewJob:
    """A checked ``POST /jobs`` body."""

    capability: str
    submitted_by: str
    submitted_payload: dict[str, Any]
    owner_instance_id: str | None = None
    max_retries: int = 1
    max_duration: int | None = None
    total_deadline: int | None = None


@dataclass(frozen=True)
class Delta:
    """One checked entry of a ``POST /jobs/batch``."""

    id: str
    claim_epoch: int | None = None
    status: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    result: Any = None
    error: str | None = None
    recv_cursor: Any = None


@dataclass(frozen=True)
class JobListQuery:
    """``GET /jobs`` filters and page."""

    statuses: tuple[str, ...] = ()
    owner_instance_id: str = ""
    capability: str = ""
    submitted_since: int = 0
    limit: int = 50
    cursor: tuple[float, str] | None = None


def _epoch(value: float | None) -> int | None:
    return None if value is None else int(value)


def job_document(row: Any) -> dict[str, Any]:
    """A job row as the API shows it (times in epoch seconds, as the Go registry)."""
    return {
        "attempt_count": row.attempt_count,
        "capability": row.capability,
        "claim_epoch": row.claim_epoch,
        "error": row.error,
        "id": row.job_id,
        "last_heartbeat_at": _epoch(row.last_heartbeat_at),
        "lease_expires_at": _epoch(row.lease_expires_at),
        "max_duration": row.max_duration,
        "max_retries": row.max_retries,
        "owner_instance_id": row.owner_instance_id,
        "progress": row.progress,
        "progress_message": row.progress_message,
        "recv_cursor": row.recv_cursor,
        "result": row.result,
        "status": row.status,
        "submitted_at": int(row.submitted_at),
        "submitted_by": row.submitted_by,
        "submitted_payload": row.submitted_payload,
        "total_deadline": row.total_deadline,
    }


def event_document(row: Any) -> dict[str, Any]:
    """A job event as the API shows it."""
    return {
        "job_id": row.job_id,
        "seq": row.seq,
        "type": row.type,
        "payload": row.payload,
        "trace_context": row.trace_context,
        "posted_by": row.posted_by,
        "created_at": int(row.created_at),
    }


def lease_window(row: Any) -> float:
    """Seconds a claim or an accepted delta extends the lease: max_duration, else the default."""
    return float(row.max_duration) if row.max_duration and row.max_duration > 0 else DEFAULT_LEASE_SECONDS


def _get(conn: Connection, job_id: str) -> Any:
    return conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).first()


def _live(column: Any = jobs.c.status) -> Any:
    return column.not_in(TERMINAL)


class JobStore:
    """Every MeshJob query, each one unit of work on the registry's Storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def create(self, new: NewJob, now: float) -> Any:
        """Insert a job (owner set in push mode, NULL in pull mode) and return its row."""
        job_id = str(uuid.uuid4())
        values = {
            "job_id": job_id,
            "capability": new.capability,
            "owner_instance_id": new.owner_instance_id or None,
            "claim_epoch": 0,
            "status": "working",
            "submitted_payload": new.submitted_payload,
            "attempt_count": 0,
            "max_retries": new.max_retries,
            "max_duration": new.max_duration,
            "total_deadline": new.total_deadline,
            "submitted_at": now,
            "submitted_by": new.submitted_by,
        }

        def work(conn: Connection) -> Any:
            conn.execute(sa.insert(jobs).values(**values))
            return _get(conn, job_id)

        return await self.storage.transaction(work)

    async def get(self, job_id: str) -> Any | None:
        return await self.storage.run_read(lambda conn: _get(conn, job_id))

    async def page(self, query: JobListQuery) -> tuple[list[Any], Any | None]:
        """One page newest first, and the last row kept when another page follows."""

        def work(conn: Connection) -> Any:
            stmt = sa.select(jobs)
            if query.statuses:
                stmt = stmt.where(jobs.c.status.in_(query.statuses))
            if query.owner_instance_id:
                stmt = stmt.where(jobs.c.owner_instance_id == query.owner_instance_id)
            if query.capability:
                stmt = stmt.where(jobs.c.capability == query.capability)
            if query.submitted_since > 0:
                stmt = stmt.where(jobs.c.submitted_at >= query.submitted_since)
            if query.cursor is not None:
                at, job_id = query.cursor
                stmt = stmt.where(
                    sa.or_(
                        jobs.c.submitted_at < at,
                        sa.and_(jobs.c.submitted_at == at, jobs.c.job_id < job_id),
                    )
                )
            stmt = stmt.order_by(jobs.c.submitted_at.desc(), jobs.c.job_id.desc()).limit(query.limit + 1)
            return conn.execute(stmt).fetchall()

        rows = list(await self.storage.run_read(work))
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            return rows, rows[-1]
        return rows, None

    async def instance_known(self, instance_id: str) -> bool:
        """Whether an agent with this id is registered (job owners are agent instances)."""

        def work(conn: Connection) -> Any:
            return conn.execute(sa.select(agents.c.agent_id).where(agents.c.agent_id == instance_id)).first()

        return await self.storage.run_read(work) is not None

    async def owner_endpoint(self, instance_id: str) -> str | None:
        """The registered HTTP endpoint of a job owner, for forwarding a cancel."""

        def work(conn: Connection) -> Any:
            stmt = sa.select(agents.c.endpoint).where(agents.c.agent_id == instance_id)
            return conn.execute(stmt).scalar()

        endpoint = await self.storage.run_read(work)
        return str(endpoint) if endpoint else None

    async def claim(self, capability: str, instance_id: str, now: float) -> Any | None:
        """Give the oldest unowned working job of ``capability`` to ``instance_id``; None when no work.

        Each claim bumps ``claim_epoch``, so the previous holder's deltas and reads are fenced. A job whose
        attempts exceed its retries is never handed out again.
        """

        def work(conn: Connection) -> Any:
            for _ in range(CLAIM_ATTEMPTS):
                candidate = conn.execute(
                    sa.select(jobs)
                    .where(jobs.c.capability == capability)
                    .where(jobs.c.status == "working")
                    .where(jobs.c.owner_instance_id.is_(None))
                    .order_by(jobs.c.submitted_at.asc(), jobs.c.job_id.asc())
                    .limit(1)
                ).first()
                if candidate is None or candidate.attempt_count > candidate.max_retries:
                    return None
                won = conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.job_id == candidate.job_id)
                    .where(jobs.c.owner_instance_id.is_(None))
                    .where(jobs.c.status == "working")
                    .values(
                        owner_instance_id=instance_id,
                        attempt_count=jobs.c.attempt_count + 1,
                        claim_epoch=jobs.c.claim_epoch + 1,
                        lease_expires_at=now + lease_window(candidate),
                        last_heartbeat_at=now,
                    )
                ).rowcount
                if won:
                    return _get(conn, candidate.job_id)
            return None

        return await self.storage.transaction(work)

    async def apply_deltas(
        self, instance_id: str, deltas: Sequence[Delta], now: float
    ) -> tuple[int, list[dict[str, str]]]:
        """Apply each delta independently; (accepted count, rejections with their reason)."""

        def work(conn: Connection) -> tuple[int, list[dict[str, str]]]:
            accepted = 0
            rejected: list[dict[str, str]] = []
            for delta in deltas:
                reason = self._apply(conn, instance_id, delta, now)
                if reason is None:
                    accepted += 1
                else:
                    rejected.append({"id": delta.id, "reason": reason})
            return accepted, rejected

        return await self.storage.transaction(work)

    @staticmethod
    def _apply(conn: Connection, instance_id: str, delta: Delta, now: float) -> str | None:
        row = _get(conn, delta.id)
        if row is None:
            return "not_found"
        owns = row.owner_instance_id == instance_id
        if delta.claim_epoch is not None and (not owns or delta.claim_epoch != row.claim_epoch):
            return "claim_superseded"
        if delta.claim_epoch is None and not owns:
            return "not_owner"
        if row.status in TERMINAL:
            return "already_terminal"
        if delta.status is not None and delta.status not in STATUSES:
            return "invalid_status"
        values: dict[str, Any] = {"last_heartbeat_at": now}
        if delta.status is None or delta.status not in TERMINAL:
            values["lease_expires_at"] = now + lease_window(row)
        if delta.progress is not None:
            values["progress"] = delta.progress
        if delta.progress_message is not None:
            values["progress_message"] = delta.progress_message
        if delta.recv_cursor is not None:
            values["recv_cursor"] = delta.recv_cursor
        if delta.status is not None:
            values["status"] = delta.status
            if delta.status == "completed" and delta.result is not None:
                values["result"] = delta.result
            if delta.status == "failed" and delta.error is not None:
                values["error"] = delta.error
        stmt = (
            sa.update(jobs)
            .where(jobs.c.job_id == delta.id)
            .where(jobs.c.owner_instance_id == instance_id)
            .where(_live())
        )
        if delta.claim_epoch is not None:
            stmt = stmt.where(jobs.c.claim_epoch == delta.claim_epoch)
        if conn.execute(stmt.values(**values)).rowcount:
            return None
        return "not_owner"  # unreachable inside one transaction, kept for a concurrent writer's sake

    async def release(self, job_id: str, instance_id: str, reason: str, now: float) -> Any:
        """Give a claimed job back (retry later), or fail it when its attempts are spent."""

        def work(conn: Connection) -> Any:
            row = _get(conn, job_id)
            if row is None:
                raise JobNotFound(job_id)
            if row.status in TERMINAL:
                raise JobTerminal(job_id)
            if row.owner_instance_id != instance_id:
                raise NotOwner(job_id)
            values: dict[str, Any] = {
                "owner_instance_id": None,
                "lease_expires_at": None,
                "last_heartbeat_at": now,
            }
            if row.attempt_count > row.max_retries:
                values["status"] = "failed"
                values["error"] = f"exhausted (release): {reason.strip() or 'max retries exceeded'}"
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.job_id == job_id)
                .where(jobs.c.owner_instance_id == instance_id)
                .where(_live())
                .values(**values)
            )
            return _get(conn, job_id)

        return await self.storage.transaction(work)

    async def cancel(
        self, job_id: str, reason: str, now: float, posted_by: str | None
    ) -> tuple[Any, str | None]:
        """Mark a live job cancelled and append the synthetic ``cancelled`` event; (row, previous owner)."""

        def work(conn: Connection) -> tuple[Any, str | None]:
            row = _get(conn, job_id)
            if row is None:
                raise JobNotFound(job_id)
            if row.status in TERMINAL:
                raise JobTerminal(job_id)
            values: dict[str, Any] = {"status": "cancelled", "last_heartbeat_at": now}
            if reason.strip():
                values["error"] = f"cancelled: {reason.strip()}"
            done = conn.execute(
                sa.update(jobs).where(jobs.c.job_id == job_id).where(_live()).values(**values)
            ).rowcount
            if not done:
                raise JobTerminal(job_id)
            self._append_event(conn, job_id, "cancelled", {"reason": reason}, None, posted_by, now)
            return _get(conn, job_id), row.owner_instance_id

        return await self.storage.transaction(work)

    async def reclaim(self, job_id: str) -> tuple[Any, str | None]:
        """Evict a live job's owner so it can be claimed again (claim_epoch is left for the next claim)."""

        def work(conn: Connection) -> tuple[Any, str | None]:
            row = _get(conn, job_id)
            if row is None:
                raise JobNotFound(job_id)
            if row.status in TERMINAL:
                raise JobTerminal(job_id)
            owner = row.owner_instance_id
            stmt = sa.update(jobs).where(jobs.c.job_id == job_id).where(_live())
            stmt = stmt.where(
                jobs.c.owner_instance_id.is_(None) if owner is None else jobs.c.owner_instance_id == owner
            )
            done = conn.execute(
                stmt.values(
                    status="working", owner_instance_id=None, lease_expires_at=None, last_heartbeat_at=None
                )
            ).rowcount
            if not done:
                after = _get(conn, job_id)
                if after is not None and after.status in TERMINAL:
                    raise JobTerminal(job_id)
                raise ReclaimConflict(job_id)
            return _get(conn, job_id), owner

        return await self.storage.transaction(work)

    async def reclaim_expired(self, now: float) -> list[str]:
        """The sweep: jobs whose lease ran out lose their owner, or fail once their attempts are spent."""

        def work(conn: Connection) -> list[str]:
            expired = conn.execute(
                sa.select(jobs)
                .where(_live())
                .where(jobs.c.owner_instance_id.is_not(None))
                .where(jobs.c.lease_expires_at < now)
            ).fetchall()
            reclaimed: list[str] = []
            for row in expired:
                values: dict[str, Any] = {"owner_instance_id": None, "lease_expires_at": None}
                if row.attempt_count > row.max_retries:
                    values.update(status="failed", error="exhausted: lease expired on the last attempt")
                else:
                    values["status"] = "working"
                done = conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.job_id == row.job_id)
                    .where(jobs.c.owner_instance_id == row.owner_instance_id)
                    .where(jobs.c.claim_epoch == row.claim_epoch)
                    .where(jobs.c.lease_expires_at < now)
                    .where(_live())
                    .values(**values)
                ).rowcount
                if done:
                    reclaimed.append(row.job_id)
            return reclaimed

        return await self.storage.transaction(work)

    async def live_claims(self) -> int:
        """Live jobs that have an owner: what a drain waits for."""

        def work(conn: Connection) -> Any:
            stmt = (
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(_live())
                .where(jobs.c.owner_instance_id.is_not(None))
            )
            return conn.execute(stmt).scalar()

        return int(await self.storage.run_read(work) or 0)

    @staticmethod
    def _append_event(
        conn: Connection,
        job_id: str,
        event_type: str,
        payload: Any,
        trace_context: Any,
        posted_by: str | None,
        now: float,
    ) -> int:
        last = conn.execute(
            sa.select(sa.func.max(job_events.c.seq)).where(job_events.c.job_id == job_id)
        ).scalar()
        seq = int(last or 0) + 1
        conn.execute(
            sa.insert(job_events).values(
                job_id=job_id,
                seq=seq,
                type=event_type,
                payload=payload,
                trace_context=trace_context,
                posted_by=posted_by or None,
                created_at=now,
            )
        )
        return seq

    async def post_event(
        self,
        job_id: str,
        event_type: str,
        payload: Any,
        trace_context: Any,
        posted_by: str | None,
        now: float,
    ) -> int:
        """Append an event to a live job's log; its per-job sequence number."""

        def work(conn: Connection) -> int:
            row = _get(conn, job_id)
            if row is None:
                raise JobNotFound(job_id)
            if row.status in TERMINAL:
                raise JobTerminal(job_id)
            return self._append_event(conn, job_id, event_type, payload, trace_context, posted_by, now)

        return await self.storage.transaction(work)

    async def events(self, job_id: str, after: int, types: Sequence[str], limit: int) -> list[Any] | None:
        """Events with seq > after (None when the job does not exist)."""

        def work(conn: Connection) -> Any:
            if _get(conn, job_id) is None:
                return None
            stmt = sa.select(job_events).where(job_events.c.job_id == job_id).where(job_events.c.seq > after)
            if types:
                stmt = stmt.where(job_events.c.type.in_(list(types)))
            return conn.execute(stmt.order_by(job_events.c.seq.asc()).limit(limit)).fetchall()

        rows = await self.storage.run_read(work)
        return None if rows is None else list(rows)

    async def executor_read(self, job_id: str, instance_id: str, epoch: int, now: float) -> str:
        """Fence an owner's read of its job's events: 'extended', 'terminal' or 'superseded'.

        A matching (owner, epoch) on a live job extends the lease, as a delta would.
        """

        def work(conn: Connection) -> str:
            row = _get(conn, job_id)
            if row is None:
                raise JobNotFound(job_id)
            if row.status in TERMINAL:
                return "terminal"
            if row.owner_instance_id != instance_id or row.claim_epoch != epoch:
                return "superseded"
            lease = now + lease_window(row)
            if row.total_deadline is not None:
                lease = min(lease, float(row.total_deadline))
            if row.lease_expires_at is None or lease > row.lease_expires_at:
                conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.job_id == job_id)
                    .where(jobs.c.owner_instance_id == instance_id)
                    .where(jobs.c.claim_epoch == epoch)
                    .where(_live())
                    .values(lease_expires_at=lease, last_heartbeat_at=now)
                )
            return "extended"

        return await self.storage.transaction(work)
