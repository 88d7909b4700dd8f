"""The agents' two heartbeats straight from ASGI, in front of the Quart app.

Every agent sends ``HEAD /heartbeat/{id}`` every few seconds and re-posts ``POST /heartbeat`` whenever
the topology changes, so these two routes decide how many agents a replica can carry. Quart's
per-request machinery (request and app contexts, hooks, routing, a timeout task per body and per
response) costs several times the work itself; this path calls the same ``answer_heartbeat`` and
``answer_fast_heartbeat`` as the Quart routes and counts the same metrics. Every other request, and
every other method on these paths, goes to the Quart app unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
from werkzeug.exceptions import RequestEntityTooLarge

from registry.outage import retry_after
from registry.routes.common import count_request, error_body
from registry.routes.protocol import answer_fast_heartbeat, answer_heartbeat
from registry.runtime import RegistryRuntime

log = logging.getLogger("registry.http")

PATH = "/heartbeat"
HEAD_PREFIX = "/heartbeat/"
HEAD_RULE = "/heartbeat/<agent_id>"  # the Quart rule, as the request metrics name the route
BODY_TIMEOUT = 60.0  # seconds for the whole body to arrive, as Quart's BODY_TIMEOUT
JSON_TYPE = b"application/json; charset=utf-8"


class ClientGone(Exception):
    """The client disconnected before its body arrived: there is nobody to answer."""


class HeartbeatFastPath:
    """An ASGI app: ``POST /heartbeat`` and ``HEAD /heartbeat/{id}`` answered here, the rest by ``app``."""

    def __init__(self, app: ASGIFramework, runtime: RegistryRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if method == "POST" and path == PATH:
                return await self._heartbeat(scope, receive, send)
            agent_id = path[len(HEAD_PREFIX) :]
            if method == "HEAD" and path.startswith(HEAD_PREFIX) and agent_id and "/" not in agent_id:
                return await self._fast_heartbeat(agent_id, send)
        await self.app(scope, receive, send)

    async def _heartbeat(
        self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        started = time.perf_counter()
        limit = self.runtime.settings.max_body_bytes
        try:
            if declared_length(scope) > limit:
                raise RequestEntityTooLarge()
            raw = await read_body(receive, limit)
            status, payload = await answer_heartbeat(self.runtime, raw)
        except ClientGone:
            return
        except RequestEntityTooLarge:
            status, payload = 413, error_body(f"request body too large: the limit is {limit} bytes")
        except TimeoutError:
            status, payload = 408, error_body(f"the request body did not arrive within {BODY_TIMEOUT:g} s")
        except Exception as exc:  # as the Quart app's error handler: a 500 in the one error shape
            log.error("request failed", exc_info=exc, extra={"method": "POST", "path": PATH})
            status, payload = 500, error_body(f"internal error: {type(exc).__name__}")
        await send_json(send, status, payload, retry_after(status))
        count_request(self.runtime, "POST", PATH, PATH, status, time.perf_counter() - started)

    async def _fast_heartbeat(self, agent_id: str, send: ASGISendCallable) -> None:
        started = time.perf_counter()
        status = await answer_fast_heartbeat(self.runtime, agent_id)
        headers = [(b"content-length", b"0"), *_encoded(retry_after(status))]
        await send({"type": "http.response.start", "status": status, "headers": headers, "trailers": False})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        elapsed = time.perf_counter() - started
        count_request(self.runtime, "HEAD", HEAD_RULE, HEAD_PREFIX + agent_id, status, elapsed)


def declared_length(scope: HTTPScope) -> int:
    """The request's Content-Length (0 when absent or unreadable: the body is then counted as it comes)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def read_body(receive: ASGIReceiveCallable, limit: int) -> bytes:
    """The whole body; RequestEntityTooLarge past limit, TimeoutError after BODY_TIMEOUT, ClientGone."""
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(BODY_TIMEOUT):
        while True:
            message: Any = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _encoded(headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]


async def send_json(
    send: ASGISendCallable, status: int, payload: Any, extra: dict[str, str] | None = None
) -> None:
    """One JSON answer with the headers the Quart app sends (and ``extra``, e.g. Retry-After)."""
    body = orjson.dumps(payload)
    headers = [(b"content-type", JSON_TYPE), (b"content-length", str(len(body)).encode()), *_encoded(extra)]
    await send({"type": "http.response.start", "status": status, "headers": headers, "trailers": False})
    await send({"type": "http.response.body", "body": body, "more_body": False})
