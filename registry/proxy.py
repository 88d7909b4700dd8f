"""``/proxy/{host:port}/mcp...`` (``meshctl call``): a registered agent's MCP endpoint, and nothing else.

The registry sits where agents are reachable and callers may not be, so an open relay here would hand
anyone a way into the cluster network. A request is forwarded only when its ``host:port`` is the
endpoint of a healthy registered agent and its path is that agent's MCP path (``/mcp`` or below,
without dot segments or encoded separators); an upstream redirect is never followed. Anything else is
refused with 403 and a JSON reason. Answers are streamed back as they come, so SSE works.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import httpx

from registry.storage.repository import Storage
from registry.storage.schema import agents

log = logging.getLogger("registry.proxy")

MAX_TIMEOUT = 600.0  # seconds: the ceiling on MCP_MESH_PROXY_TIMEOUT and X-Mesh-Timeout, as in Go
# Headers the registry passes on: what an MCP client speaks, and the mesh's propagated context.
FORWARDED = frozenset(
    {
        "content-type",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
        "x-trace-id",
        "x-parent-span",
        "x-mesh-timeout",
        "x-mesh-job-id",
        "x-mesh-calling-job-id",
        "x-mesh-calling-claim-epoch",
    }
)
# Hop-by-hop and framing headers are the server's own business on each leg.
NOT_RETURNED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "te",
        "trailer",
        "upgrade",
        "server",
        "date",
    }
)


class ProxyError(Exception):
    """Not forwarded (403 refused, 400 malformed) or not answered (502, 504); the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    """Where a proxied request goes."""

    authority: str  # host:port as the caller wrote it, lower-cased
    path: str  # /mcp...


def parse_target(rest: str, raw_path: bytes) -> Target:
    """Split ``host:port/mcp...`` and refuse every path that is not plainly an MCP path."""
    authority, slash, tail = rest.partition("/")
    if not authority or not slash:
        raise ProxyError(400, "invalid target: expected /proxy/{host}:{port}/mcp[/...]")
    host, _, port = authority.rpartition(":")
    if not host or not port.isdigit() or "@" in authority:
        raise ProxyError(400, f"invalid target {authority!r}: expected {{host}}:{{port}}")
    path = "/" + tail
    lowered = raw_path.lower()
    segments = tail.split("/")
    if (
        (path != "/mcp" and not path.startswith("/mcp/"))
        or any(s in (".", "..") for s in segments)
        or "//" in path
        or "\\" in path
        or b"%2f" in lowered
        or b"%2e" in lowered
        or b"%5c" in lowered
    ):
        raise ProxyError(403, f"only an agent's MCP path (/mcp or below) may be proxied, not {path!r}")
    return Target(authority=authority.lower(), path=path)


def timeout_for(header: str | None, default: float) -> float:
    """``X-Mesh-Timeout`` (seconds) when the caller sent a usable one, else MCP_MESH_PROXY_TIMEOUT (≤ 600)."""
    if header:
        try:
            value = float(header)
        except ValueError:
            value = 0.0
        if value > 0:
            return min(value, MAX_TIMEOUT)
    return min(default, MAX_TIMEOUT)


def forwarded_headers(headers: Iterable[tuple[str, str]], propagate: tuple[str, ...]) -> dict[str, str]:
    """The request headers passed on: MCP's and the mesh's, plus MCP_MESH_PROPAGATE_HEADERS prefixes."""
    kept: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in FORWARDED or any(lowered.startswith(prefix) for prefix in propagate):
            kept[name] = value
    return kept


def returned_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers.multi_items() if name.lower() not in NOT_RETURNED]


@dataclass
class Upstream:
    """An agent's answer whose body is still to be streamed."""

    status: int
    headers: list[tuple[str, str]]
    response: httpx.Response

    async def body(self) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:  # the agent went away or stalled mid-stream: end the answer
            log.info("proxied stream ended early", extra={"error": str(exc)[:200]})
        finally:
            await self.response.aclose()


class AgentProxy:
    """The proxy's agent check and its one connection pool."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        """The pool, made at the first forward: httpx costs a replica ~5 MiB, and most never proxy."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=None)
        return self._client

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def agent_endpoint(self, authority: str) -> str | None:
        """The endpoint (scheme://host:port) of a healthy agent registered at ``authority``."""

        def work(conn: Connection) -> list[str]:
            stmt = sa.select(agents.c.endpoint).where(agents.c.status == "healthy")
            return [row[0] for row in conn.execute(stmt)]

        for endpoint in await self.storage.run_read(work):
            parts = urlsplit(endpoint or "")
            if parts.netloc.lower() == authority and parts.scheme in ("http", "https"):
                return f"{parts.scheme}://{parts.netloc}"
        return None

    async def forward(
        self,
        method: str,
        base: str,
        target: Target,
        query: bytes,
        headers: dict[str, str],
        body: bytes,
        seconds: float,
    ) -> Upstream:
        """Send the request; ProxyError(403) on a redirect, 502 when unreachable, 504 past the timeout."""
        import httpx

        client = self._http()
        url = base + target.path + (("?" + query.decode("latin-1")) if query else "")
        request = client.build_request(
            method, url, headers=headers, content=body or None, timeout=httpx.Timeout(seconds)
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            raise ProxyError(
                504, f"the agent at {target.authority} did not answer within {seconds:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ProxyError(
                502, f"the agent at {target.authority} is unreachable: {type(exc).__name__}"
            ) from None
        if response.is_redirect:
            location = response.headers.get("location", "")
            await response.aclose()
            raise ProxyError(
                403, f"the agent answered a redirect (to {location!r}); the proxy does not follow redirects"
            )
        return Upstream(response.status_code, returned_headers(response.headers), response)
