"""``GET|POST|DELETE /proxy/{host:port}/mcp...``: ``meshctl call`` reaches an agent through the registry."""

from __future__ import annotations

from quart import Blueprint, Response, request

from registry.proxy import ProxyError, forwarded_headers, parse_target, timeout_for
from registry.routes.common import error_response, request_bytes, runtime

blueprint = Blueprint("proxy", __name__)


@blueprint.route("/proxy/<path:rest>", methods=["GET", "POST", "DELETE"])
async def proxy(rest: str) -> Response:
    """Forward to a healthy registered agent's MCP path and stream its answer back (JSON or SSE)."""
    rt = runtime()
    try:
        target = parse_target(rest, request.scope.get("raw_path") or request.path.encode())
        base = await rt.proxy.agent_endpoint(target.authority)
        if base is None:
            raise ProxyError(403, f"target {target.authority!r} is not a registered agent")
        timeout = timeout_for(request.headers.get("X-Mesh-Timeout"), rt.settings.proxy_timeout)
        headers = forwarded_headers(request.headers.items(), rt.settings.propagate_headers)
        upstream = await rt.proxy.forward(
            request.method,
            base,
            target,
            request.query_string,
            headers,
            await request_bytes(),
            timeout,
        )
    except ProxyError as exc:
        return error_response(str(exc), exc.status)
    response = Response(upstream.body(), status=upstream.status)
    del response.headers["Content-Type"]
    for name, value in upstream.headers:
        response.headers.add(name, value)
    response.timeout = None  # an SSE answer lasts as long as the agent keeps it open
    return response
