"""``create_app``: the API app (every route) and the metrics-only app, around one RegistryRuntime."""

from __future__ import annotations

import logging
import time

from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from registry.outage import database_outage, outage_response
from registry.routes import admin, drain, guide, jobs, ops, protocol, proxy, trace
from registry.routes.admin import RESTORE_MAX_BYTES
from registry.routes.common import count_request, error_response
from registry.runtime import RegistryRuntime

log = logging.getLogger("registry.http")

RESTORE = "admin.restore"  # the one endpoint that takes bodies above MAX_BODY_BYTES


def _base_app(name: str, runtime: RegistryRuntime) -> Quart:
    app = Quart(name)
    app.extensions["registry"] = runtime
    # Quart's own ceiling is the largest body any route takes (a restore); every other route is held to
    # MAX_BODY_BYTES by _limit_body below and by json_body for bodies sent without a length.
    app.config["MAX_CONTENT_LENGTH"] = max(RESTORE_MAX_BYTES, runtime.settings.max_body_bytes)
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 404:
            message = f"not found: {request.method} {request.path}"
        elif code == 405:
            message = f"method {request.method} not allowed on {request.path}"
        elif code == 413:
            message = f"request body too large: the limit is {runtime.settings.max_body_bytes} bytes"
        else:
            message = exc.description or exc.name
        response = error_response(message, code)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    async def _server_error(exc: Exception) -> Response:
        if database_outage(exc):
            return outage_response(runtime, exc, request.method, request.path)
        runtime.metrics.error("server")
        log.error("request failed", exc_info=exc, extra={"method": request.method, "path": request.path})
        return error_response(f"internal error: {type(exc).__name__}", 500)

    return app


def create_app(runtime: RegistryRuntime) -> Quart:
    """The API app on REGISTRY_PORT: probes, guide, agent protocol, admin, metrics, OpenAPI."""
    app = _base_app("registry", runtime)
    blueprints = (ops, protocol, guide, admin, drain, jobs, proxy, trace)
    for blueprint in (module.blueprint for module in blueprints):
        app.register_blueprint(blueprint)

    @app.before_request
    async def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.before_request
    async def _limit_body() -> None:
        length = request.content_length
        if length is not None and length > runtime.settings.max_body_bytes and request.endpoint != RESTORE:
            raise RequestEntityTooLarge()

    @app.after_request
    async def _count(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        count_request(runtime, request.method, route, request.path, response.status_code, elapsed)
        return response

    return app


def create_metrics_app(runtime: RegistryRuntime) -> Quart:
    """The metrics-only app on METRICS_PORT."""
    app = _base_app("registry-metrics", runtime)

    @app.get("/metrics")
    async def metrics() -> Response:
        return await ops.render_metrics()

    return app
