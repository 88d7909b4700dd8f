"""Probes and operations: ``/``, ``/health``, ``/ready``, ``/metrics``, ``/openapi.json``."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, request

from registry import __version__, clock
from registry.openapi import openapi_document
from registry.routes.common import json_response, runtime

SERVICE = "mcp-mesh-registry"
READY_TIMEOUT = 2.0

blueprint = Blueprint("ops", __name__)


@blueprint.get("/")
async def root() -> Response:
    return json_response(
        {
            "service": SERVICE,
            "version": __version__,
            "status": "running",
            "endpoints": ["/health", "/heartbeat", "/agents"],
        }
    )


@blueprint.route("/health", methods=["GET", "HEAD"])
async def health() -> Response:
    """Liveness: static, never touches the database. HEAD answers with headers only."""
    rt = runtime()
    if request.method == "HEAD":
        return Response(
            b"",
            status=200,
            content_type="application/json",
            headers={
                "X-Health-Status": "healthy",
                "X-Service-Version": __version__,
                "X-Uptime-Seconds": str(int(rt.uptime)),
            },
        )
    return json_response(
        {
            "status": "healthy",
            "version": __version__,
            "uptime_seconds": int(rt.uptime),
            "timestamp": clock.rfc3339(),
            "service": SERVICE,
            "instance_id": rt.settings.instance_id,
            "leader": rt.leadership.is_leader,
        }
    )


@blueprint.get("/ready")
async def ready() -> Response:
    """Readiness: the database answers, and with SQLite under leader election only the leader serves."""
    rt = runtime()
    base = {
        "database": rt.settings.database_type,
        "instance_id": rt.settings.instance_id,
        "leader": rt.leadership.is_leader,
        "timestamp": clock.rfc3339(),
    }
    try:
        await asyncio.wait_for(rt.storage.ping(), READY_TIMEOUT)
    except Exception as exc:
        reason = f"database unreachable: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        return json_response({"status": "not ready", "reason": reason, **base}, 503)
    if rt.leadership.enabled and rt.settings.database_type == "sqlite" and not rt.leadership.is_leader:
        reason = "not the leader: with SQLite only the leader serves (active/passive)"
        election = rt.leadership.describe()
        reason += f"; leader election: {election['error']}" if election.get("error") else ""
        holder = election.get("holder")
        reason += f"; the leader is {holder}" if holder and holder != rt.settings.instance_id else ""
        return json_response({"status": "not ready", "reason": reason, **base}, 503)
    return json_response({"status": "ready", **base})


async def render_metrics() -> Response:
    """Prometheus text; agent counts are refreshed from the database on each scrape."""
    rt = runtime()
    try:
        await rt.liveness.flush()
        rt.metrics.set_agent_counts(await rt.storage.count_by_status())
    except Exception:
        rt.metrics.error("database")
    leadership = rt.leadership
    rt.metrics.set_leadership(
        leadership.enabled, leadership.is_leader, leadership.acquisitions, leadership.transitions
    )
    return Response(rt.metrics.render(), status=200, content_type=rt.metrics.content_type)


@blueprint.get("/metrics")
async def metrics() -> Response:
    return await render_metrics()


@blueprint.get("/openapi.json")
async def openapi() -> Response:
    return json_response(openapi_document())
