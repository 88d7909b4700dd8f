"""``/trace/*`` (``meshctl trace``): no tracing backend here, answered as Go answers without one."""

from __future__ import annotations

from quart import Blueprint, Response

from registry.routes.common import json_response

blueprint = Blueprint("trace", __name__)

NOT_INITIALISED = {"enabled": False, "reason": "tracing not initialized"}


@blueprint.get("/trace/status")
async def trace_status() -> Response:
    return json_response(NOT_INITIALISED)


@blueprint.get("/trace/stats")
async def trace_stats() -> Response:
    return json_response(NOT_INITIALISED)


@blueprint.get("/trace/info")
async def trace_info() -> Response:
    return json_response({"config": "MCP_MESH_DISTRIBUTED_TRACING_ENABLED=false", **NOT_INITIALISED})


@blueprint.get("/trace/<trace_id>")
async def trace(trace_id: str) -> Response:
    """No trace can be found without a backend: 404, with the reason meshctl prints."""
    return json_response({"enabled": False, "error": "tracing not enabled"}, 404)
