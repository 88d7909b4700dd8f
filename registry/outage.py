"""A database outage, told apart from a bug: 503 with a JSON reason and ``Retry-After``, no traceback.

When the database refuses connections (or drops them), every route that needs it answers 503 so that
clients back off and retry, as the protocol asks; the registry recovers by itself when the database
is back. A programming error is still a 500 with its traceback in the log.
"""

from __future__ import annotations

import logging

from quart import Response
from sqlalchemy import exc as sa_exc

from registry.routes.common import error_body, json_response
from registry.runtime import RegistryRuntime

log = logging.getLogger("registry.http")

RETRY_AFTER_SECONDS = 5
OUTAGE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
)


def database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unreachable (not a bad query)."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


def reason(exc: BaseException) -> str:
    """One line naming the failure, without the statement or parameters."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {text}"[:300]


def outage_body(exc: BaseException) -> dict[str, str]:
    return error_body(f"database unavailable: {reason(exc)}")


def retry_after(status: int) -> dict[str, str] | None:
    """The Retry-After header a 503 carries (None for any other status)."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None


def outage_response(rt: RegistryRuntime, exc: BaseException, method: str, path: str) -> Response:
    """The 503 for a request the database could not serve, logged as one warning line."""
    rt.metrics.error("database")
    log.warning("database unavailable", extra={"method": method, "path": path, "error": reason(exc)})
    return json_response(outage_body(exc), 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
