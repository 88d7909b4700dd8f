"""The real agents' protocol: heartbeats, unregister, agent list, events, schemas (jobs: routes/jobs.py)."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from registry import clock
from registry.model import PayloadError, RegistrationRejected, decode_heartbeat
from registry.outage import database_outage, outage_body, reason, retry_after
from registry.routes.common import (
    BadJson,
    empty_response,
    error_body,
    error_response,
    json_response,
    parse_json,
    request_bytes,
    runtime,
)
from registry.runtime import RegistryRuntime
from registry.storage.repository import AgentFilter

log = logging.getLogger("registry.protocol")

blueprint = Blueprint("protocol", __name__)

# Go's OpenAPI enum; degraded and offline are never set, so they match no agent.
AGENT_STATUSES = ("healthy", "degraded", "unhealthy", "offline", "unknown")


@blueprint.post("/heartbeat")
async def heartbeat() -> Response:
    """Registration and full heartbeat: 200 success or 200 status:error; 400 for a malformed body.

    Served by the ASGI fast path (registry.fastpath) in the running server; this route serves the same
    answer wherever the Quart app runs alone (test clients, other ASGI servers).
    """
    rt = runtime()
    status, payload = await answer_heartbeat(rt, await request_bytes())
    return json_response(payload, status, headers=retry_after(status))


async def answer_heartbeat(rt: RegistryRuntime, raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON answer to a ``POST /heartbeat`` body (RequestEntityTooLarge past the limit)."""
    try:
        body = parse_json(raw, rt.settings.max_body_bytes)
    except BadJson as exc:
        rt.metrics.heartbeat("full", "bad_request")
        return 400, error_body(f"Invalid JSON payload: {exc}")
    try:
        registration = decode_heartbeat(body)
    except PayloadError as exc:
        rt.metrics.heartbeat("full", "bad_request")
        message = str(exc) if str(exc) == "agent_id is required" else f"Invalid JSON payload: {exc}"
        return 400, error_body(message)
    try:
        response = await rt.service.register(registration)
    except RegistrationRejected as exc:
        rt.metrics.heartbeat("full", "rejected")
        rt.metrics.error("validation")
        return 200, _semantic_error(registration.agent_id, str(exc))
    except (SQLAlchemyError, OSError) as exc:
        rt.metrics.heartbeat("full", "error")
        rt.metrics.error("database")
        log.warning("registration failed", extra={"agent_id": registration.agent_id, "error": reason(exc)})
        if database_outage(exc):  # 503: the agent backs off and posts again, as the protocol says
            return 503, outage_body(exc)
        return 200, _semantic_error(registration.agent_id, f"database error: {type(exc).__name__}")
    rt.metrics.heartbeat("full", "ok")
    return 200, response


def _semantic_error(agent_id: str, message: str) -> dict[str, Any]:
    return {"agent_id": agent_id, "message": message, "status": "error", "timestamp": clock.rfc3339()}


@blueprint.route("/heartbeat/<agent_id>", methods=["HEAD"])
async def fast_heartbeat(agent_id: str) -> Response:
    """200 no change, 202 topology changed, 410 unknown/unhealthy, 503 registry trouble. No body.

    Served by the ASGI fast path in the running server, like POST /heartbeat.
    """
    return empty_response(await answer_fast_heartbeat(runtime(), agent_id))


async def answer_fast_heartbeat(rt: RegistryRuntime, agent_id: str) -> int:
    """The status of ``HEAD /heartbeat/{agent_id}``."""
    try:
        outcome = await rt.service.fast_heartbeat(agent_id)
    except Exception as exc:
        rt.metrics.heartbeat("fast", 503)
        rt.metrics.error("database")
        log.warning("fast heartbeat failed", extra={"agent_id": agent_id, "error": str(exc)})
        return 503
    rt.metrics.heartbeat("fast", outcome.status)
    return outcome.status


@blueprint.delete("/agents/<agent_id>")
async def unregister(agent_id: str) -> Response:
    """Graceful unregister: 204, also for unknown ids."""
    await runtime().service.unregister(agent_id)
    return empty_response(204)


@blueprint.get("/agents")
async def list_agents() -> Response:
    args = request.args
    status = args.get("status") or None
    if status is not None and status not in AGENT_STATUSES:
        return error_response(f"status must be one of {', '.join(AGENT_STATUSES)}, got {status!r}", 400)
    capabilities = tuple(c for value in args.getlist("capabilities") for c in value.split(",") if c)
    flt = AgentFilter(
        status=status,
        namespace=args.get("namespace") or None,
        agent_type=args.get("type") or None,
        capabilities=capabilities,
        fuzzy=args.get("fuzzy", "").lower() == "true",
    )
    return json_response(await runtime().service.list_agents(flt), encoded=True)


class BadLimit(ValueError):
    """A limit that is not one integer."""


def _limit(name: str, default: int, maximum: int) -> int:
    """An integer query limit, clamped to 1..maximum as the Go registry does; BadLimit otherwise."""
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadLimit(f"{name} must be given once, got {len(values)} values")
    try:
        value = int(values[0])
    except ValueError:
        raise BadLimit(f"{name} must be an integer, got {values[0]!r}") from None
    return max(1, min(maximum, value))


@blueprint.errorhandler(BadLimit)
async def _bad_limit(exc: BadLimit) -> Response:
    return error_response(str(exc), 400)


@blueprint.get("/events")
async def events() -> Response:
    args = request.args
    body = await runtime().service.events(
        args.get("type") or None,
        args.get("agent_id") or None,
        args.get("function_name") or None,
        _limit("limit", 50, 500),
    )
    return json_response(body)


@blueprint.get("/schemas")
async def schemas() -> Response:
    rt = runtime()
    rows = await rt.storage.list_schemas(_limit("limit", 100, 1000))
    items = [rt.service.schema_item(row) for row in rows]
    return json_response({"count": len(items), "schemas": items})


@blueprint.get("/schemas/<path:digest>")
async def schema(digest: str) -> Response:
    rt = runtime()
    row = await rt.storage.get_schema(digest)
    if row is None:
        return error_response(f"schema not found: {digest}", 404)
    return json_response(rt.service.schema_item(row))


@blueprint.get("/a2a/agents")
async def a2a_agents() -> Response:
    return json_response({"surfaces": []})
