"""The guide's API: ``POST /agents`` with ``{"id", "capabilities", "endpoint"}`` and ``GET /capabilities``."""

from __future__ import annotations

import logging

from quart import Blueprint, Response
from sqlalchemy.exc import SQLAlchemyError

from registry.model import PayloadError, RegistrationRejected, decode_guide_agent
from registry.outage import database_outage, outage_response
from registry.routes.common import BadJson, error_response, json_body, json_response, runtime

log = logging.getLogger("registry.guide")

blueprint = Blueprint("guide", __name__)


@blueprint.post("/agents")
async def register_agent() -> Response:
    """Register (or update) an agent the guide's way; 200 with the stored agent, 400 for a bad body."""
    rt = runtime()
    try:
        registration = decode_guide_agent(await json_body())
    except (BadJson, PayloadError) as exc:
        return error_response(f"invalid agent: {exc}", 400)
    try:
        response = await rt.service.register(registration)
    except RegistrationRejected as exc:
        return error_response(str(exc), 400)
    except (SQLAlchemyError, OSError) as exc:
        if database_outage(exc):
            return outage_response(rt, exc, "POST", "/agents")
        rt.metrics.error("database")
        log.warning("registration failed", extra={"agent_id": registration.agent_id, "error": str(exc)[:500]})
        return error_response(f"database error: {type(exc).__name__}", 503)
    return json_response(
        {
            "id": registration.agent_id,
            "status": "registered",
            "message": response["message"].replace("via heartbeat", "via POST /agents"),
            "capabilities": [tool.capability for tool in registration.tools],
            "endpoint": registration.endpoint,
            "timestamp": response["timestamp"],
        }
    )


@blueprint.get("/capabilities")
async def capabilities() -> Response:
    return json_response(await runtime().service.capabilities())
