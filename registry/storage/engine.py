"""Create the async engine for the configured database, with per-dialect settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def create_engine(database_url: str, database_type: str) -> AsyncEngine:
    """An AsyncEngine; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if database_type != "sqlite":
        return create_async_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    memory = database_url.endswith(":memory:")
    if not memory:
        path = Path(database_url.split(":///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if memory:
        options["poolclass"] = StaticPool
    engine = create_async_engine(database_url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
