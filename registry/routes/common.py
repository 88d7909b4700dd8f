"""Helpers the route modules share: the runtime, JSON bodies, JSON errors."""

from __future__ import annotations

import logging
from typing import Any, cast

import orjson
from quart import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from registry import clock
from registry.runtime import RegistryRuntime

http_log = logging.getLogger("registry.http")


def count_request(
    rt: RegistryRuntime, method: str, route: str, path: str, status: int, elapsed: float
) -> None:
    """One answered request in the metrics (by route rule) and, at debug level, the log."""
    rt.metrics.request_done(method, route, status, elapsed)
    if http_log.isEnabledFor(logging.DEBUG):
        duration_ms = round(elapsed * 1000, 3)
        http_log.debug(
            "request", extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        )


def runtime() -> RegistryRuntime:
    """The running registry behind the current app."""
    return cast(RegistryRuntime, current_app.extensions["registry"])


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, encoded: bool = False
) -> Response:
    """A JSON response (``application/json; charset=utf-8``), serialised compactly (unless ``encoded``)."""
    return Response(
        body if encoded else orjson.dumps(body),
        status=status,
        content_type="application/json; charset=utf-8",
        headers=headers,
    )


def empty_response(status: int) -> Response:
    """A body-less answer (HEAD, 204) with no Content-Type, as the real registry sends."""
    response = Response(b"", status=status)
    del response.headers["Content-Type"]
    return response


def error_body(message: str) -> dict[str, str]:
    """The one error shape: ``{"error": ..., "timestamp": ...}``."""
    return {"error": message, "timestamp": clock.rfc3339()}


def error_response(message: str, status: int) -> Response:
    """A JSON error answer in the one error shape."""
    return json_response(error_body(message), status)


class BadJson(ValueError):
    """The request body is not JSON."""


async def request_bytes() -> bytes:
    """The current request's body as bytes, not cached."""
    return cast(bytes, await request.get_data(cache=False, as_text=False))


async def json_body() -> Any:
    """Decode the body as JSON; raise BadJson with the parser's reason (size limits apply first)."""
    return parse_json(await request_bytes(), runtime().settings.max_body_bytes)


def parse_json(raw: bytes, limit: int) -> Any:
    """Decode a request body as JSON: RequestEntityTooLarge past limit, BadJson with the parser's reason."""
    if len(raw) > limit:  # a body sent without Content-Length
        raise RequestEntityTooLarge()
    if not raw:
        raise BadJson("the request body is empty")
    try:
        return orjson.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadJson(str(exc)) from None
