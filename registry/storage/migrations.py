"""Schema versions: record which version a database is at and bring it up to date at start.

A pod's volume outlives its image, so a newer registry must upgrade an older file, and an older
registry must refuse a database written by a newer one rather than corrupt it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from registry.storage.jobs import JOB_TABLES
from registry.storage.schema import agents, event_sequence, metadata, registry_events, schema_version

log = logging.getLogger("registry.storage")


class SchemaTooNew(RuntimeError):
    """The database was written by a newer registry than this one."""


def _create_v1(conn: Connection) -> None:
    metadata.create_all(
        conn, tables=[t for t in metadata.sorted_tables if t not in JOB_TABLES], checkfirst=True
    )


def _order_events_v2(conn: Connection) -> None:
    """Events get their ids from one locked counter, and each agent records the newest id it has seen.

    Agents of an older database start at 0: each gets one 202 and re-posts, which records its id.
    """
    columns = {column["name"] for column in sa.inspect(conn).get_columns(agents.name)}
    if "seen_event_id" not in columns:
        conn.execute(sa.text("ALTER TABLE agents ADD COLUMN seen_event_id BIGINT NOT NULL DEFAULT 0"))
    event_sequence.create(conn, checkfirst=True)
    if conn.execute(sa.select(event_sequence.c.id)).first() is None:
        highest = conn.execute(sa.select(sa.func.max(registry_events.c.id))).scalar()
        conn.execute(sa.insert(event_sequence).values(id=1, last_event_id=int(highest or 0)))


def _add_jobs_v3(conn: Connection) -> None:
    """MeshJobs and their event logs, durable like agents."""
    metadata.create_all(conn, tables=list(JOB_TABLES), checkfirst=True)


def _add_content_digest_v4(conn: Connection) -> None:
    """Each agent records its registration's fingerprint; older rows have none and are rewritten once."""
    columns = {column["name"] for column in sa.inspect(conn).get_columns(agents.name)}
    if "content_digest" not in columns:
        column_type = agents.c.content_digest.type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE agents ADD COLUMN content_digest {column_type}"))


# Append-only: (version, step). Each step brings the schema from version-1 to version.
MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _create_v1),
    (2, _order_events_v2),
    (3, _add_jobs_v3),
    (4, _add_content_digest_v4),
]
LATEST_VERSION = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    """The recorded schema version, 0 for an empty database."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    value = conn.execute(sa.select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()
    return int(value or 0)


def _upgrade(conn: Connection) -> tuple[int, int]:
    before = current_version(conn)
    if before > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {before} is newer than this registry's {LATEST_VERSION}: "
            "run a newer registry image"
        )
    for version, step in MIGRATIONS:
        if version > before:
            step(conn)
    if before != LATEST_VERSION:
        values = {"version": LATEST_VERSION, "applied_at": time.time()}
        if before == 0:
            conn.execute(sa.insert(schema_version).values(id=1, **values))
        else:
            conn.execute(sa.update(schema_version).where(schema_version.c.id == 1).values(**values))
    return before, LATEST_VERSION


async def migrate(engine: AsyncEngine, attempts: int = 5) -> tuple[int, int]:
    """Apply missing migrations; return (version before, version after).

    Replicas on a shared database may start together; a losing concurrent creator simply retries.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as conn:
                before, after = await conn.run_sync(_upgrade)
            if before != after:
                log.info("schema migrated", extra={"from_version": before, "to_version": after})
            return before, after
        except DBAPIError:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
