"""Create the async engine for the configured database, with per-dialect settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

# A pooled connection unused for this long is pinged before it is handed out; one in steady use is not.
IDLE_PING_SECONDS = 2.0
_RETURNED_AT = "returned_at"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def create_engine(database_url: str, database_type: str) -> AsyncEngine:
    """An AsyncEngine; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if database_type != "sqlite":
        server = create_async_engine(database_url, pool_size=10, max_overflow=10, **JSON_CODEC)
        _ping_idle_connections(server.sync_engine)
        return server
    memory = database_url.endswith(":memory:")
    if not memory:
        path = Path(database_url.split(":///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"timeout": 30}, **JSON_CODEC}
    if memory:
        options["poolclass"] = StaticPool
    engine = create_async_engine(database_url, **options)
    _set_sqlite_pragmas(engine.sync_engine, wal=not memory)
    return engine


def _ping_idle_connections(engine: sa.Engine) -> None:
    """Ping a pooled connection at checkout only when it sat idle: a database restarted meanwhile.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout, one more round trip per unit of work; a
    connection returned moments ago is almost always alive, and if it died in between the statement
    fails, SQLAlchemy invalidates the pool, and a read is tried again on a fresh connection.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
            return  # new, or in steady use
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the driver's own error for a closed socket: the pool reconnects
            raise DisconnectionError(f"an idle pooled connection is gone: {exc}") from exc
        if not alive:
            raise DisconnectionError("an idle pooled connection is gone")


def _set_sqlite_pragmas(engine: sa.Engine, wal: bool) -> None:
    """The pragmas every SQLite connection of the registry gets, on either engine."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def sqlite_sync_engine(async_engine: AsyncEngine) -> sa.Engine | None:
    """A stdlib-driver engine on the same SQLite file, for work run in threads; None for ``:memory:``.

    One connection per thread use; the same pragmas as the async engine.
    """
    database = async_engine.url.database
    if not database or database == ":memory:":
        return None
    engine = sa.create_engine(
        async_engine.url.set(drivername="sqlite"),
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=8,
        max_overflow=8,
        **JSON_CODEC,
    )
    _set_sqlite_pragmas(engine, wal=True)
    return engine
