"""Every database statement's duration and failure, reported to the metrics through engine events.

The events fire in whichever thread runs the statement (SQLite's writer and readers, or the event loop's
greenlets on PostgreSQL and MySQL); the start time rides on the statement's own execution context, so
concurrent statements never mix their clocks.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event

OPERATIONS = frozenset({"select", "insert", "update", "delete"})
_STARTED = "_registry_statement_started"


class StatementObserver(Protocol):
    """What is told about each statement (RegistryMetrics is one)."""

    def statement_done(self, operation: str, seconds: float) -> None: ...

    def statement_failed(self, operation: str) -> None: ...


def operation_of(statement: str) -> str:
    """The statement's kind for a label: select, insert, update, delete, or other (PRAGMA, BEGIN, WITH)."""
    word = statement.lstrip()[:6].lower()
    return word if word in OPERATIONS else "other"


def time_statements(engine: sa.Engine, observer: StatementObserver) -> None:
    """Report each statement run on ``engine`` (a sync engine, or an async engine's ``sync_engine``)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if context is not None:
            setattr(context, _STARTED, time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        started = getattr(context, _STARTED, None)
        if started is not None:
            observer.statement_done(operation_of(statement), time.perf_counter() - started)

    @event.listens_for(engine, "handle_error")
    def _failed(exception_context: Any) -> None:
        observer.statement_failed(operation_of(exception_context.statement or ""))
