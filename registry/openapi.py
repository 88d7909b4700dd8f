"""The API's own OpenAPI 3.0 document, served at ``/openapi.json`` and kept true by a test.

Each route is declared once here with its parameters, body and responses; the test compares the
paths and methods with the app's URL map.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from registry import __version__
from registry.openapi_clients import client_routes

JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema or {"type": "object"}}}}


def _query(name: str, kind: str = "string", description: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind, **extra},
    }


AGENT_ID = {
    "name": "agent_id",
    "in": "path",
    "required": True,
    "description": "any id: an unknown one is answered as unknown (410 to HEAD, 204 to DELETE), as in Go",
    "schema": {"type": "string", "minLength": 1},
}
PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
AGENT_STATUSES = ["healthy", "degraded", "unhealthy", "offline", "unknown"]
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
COMMON_ERRORS = {"400": _error("bad request"), "413": _error("body too large")}

DEPENDENCY = {
    "type": "object",
    "required": ["capability"],
    "properties": {
        "capability": {"type": "string", "minLength": 1},
        "tags": {
            "type": "array",
            "items": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        },
        "version": {"type": "string"},
        "namespace": {"type": "string"},
        "required": {"type": "boolean"},
    },
}
TOOL = {
    "type": "object",
    "properties": {
        "function_name": {"type": "string"},
        "capability": {"type": "string"},
        "version": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
        "inputSchema": {"type": "object"},
        "outputSchema": {"type": "object"},
        "kwargs": {"type": "object"},
        "dependencies": {"type": "array", "items": DEPENDENCY},
    },
}
REGISTRATION = {
    "type": "object",
    "required": ["agent_id"],
    "properties": {
        "agent_id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        # Checked by the service, not the decoder: another value is the protocol's semantic error (200 with
        # status "error"), as in Go, so the document does not list them as an enum.
        "agent_type": {"type": "string", "description": "mcp_agent, api or a2a"},
        "runtime": {"type": "string", "description": "python, typescript or java"},
        "version": {"type": "string"},
        "description": {"type": "string"},
        "http_host": {"type": "string"},
        "http_port": {
            "type": "integer",
            "description": "0..65535; outside it the protocol's semantic error (200, status error), as in Go",
        },
        "namespace": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "tools": {"type": "array", "items": TOOL},
    },
}


def _null_means_absent(schema: dict[str, Any]) -> None:
    """The agents' payload decoders read a JSON null as an absent optional field (as Go's binding)."""
    for name, prop in schema["properties"].items():
        if name not in schema.get("required", ()):
            prop["nullable"] = True


for _schema in (DEPENDENCY, TOOL, REGISTRATION):
    _null_means_absent(_schema)

GUIDE_AGENT = {
    "type": "object",
    "required": ["id", "endpoint"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", "maxLength": 253},
        "capabilities": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "uniqueItems": True,
            "description": "the guide sends them; none (an empty list) is allowed",
        },
        "endpoint": {
            "type": "string",
            "pattern": f"^https?://[A-Za-z0-9.-]*[A-Za-z0-9]:{PORT}$",
            "example": "http://agent-1:8080",
        },
        "version": {"type": "string"},
    },
}


def _routes() -> dict[str, dict[str, Any]]:
    heartbeat_response = {
        "type": "object",
        "required": ["agent_id", "status", "message", "timestamp"],
        "properties": {
            "agent_id": {"type": "string"},
            "status": {"type": "string", "enum": ["success", "error"]},
            "message": {"type": "string"},
            "timestamp": {"type": "string"},
            "dependencies_resolved": {"type": "object"},
            "llm_tools": {"type": "object"},
        },
    }
    return {
        "/": {"get": {"summary": "Service banner", "responses": {"200": _ok("banner")}}},
        "/health": {
            "get": {
                "summary": "Liveness (static, never touches the database)",
                "responses": {"200": _ok("healthy")},
            },
            "head": {"summary": "Liveness headers only", "responses": {"200": {"description": "healthy"}}},
        },
        "/ready": {
            "get": {
                "summary": "Readiness: database reachable (and leader, for SQLite under leader election)",
                "responses": {"200": _ok("ready"), "503": _ok("not ready, with a reason")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _ok("OpenAPI 3.0")}}},
        "/heartbeat": {
            "post": {
                "summary": "Agent registration and full heartbeat (the MCP Mesh protocol)",
                "requestBody": {"required": True, "content": {JSON: {"schema": REGISTRATION}}},
                "responses": {"200": _ok("success or status:error", heartbeat_response), **COMMON_ERRORS},
            }
        },
        "/heartbeat/{agent_id}": {
            "head": {
                "summary": "200 no change, 202 topology changed, 410 re-register, 503 back off",
                "parameters": [AGENT_ID],
                "description": "410 is the protocol's answer for an id that is unknown or unhealthy.",
                "responses": {
                    "200": {"description": "no change"},
                    "202": {"description": "topology changed: send a full heartbeat"},
                    "410": {"description": "unknown or unhealthy: register again"},
                    "503": {"description": "registry trouble (database unavailable): back off"},
                },
            }
        },
        "/agents": {
            "get": {
                "summary": "List agents (the real registry's shape; empty lists are null)",
                "parameters": [
                    _query(
                        "status",
                        description="empty: any; degraded and offline are in Go's enum but never set, so "
                        "they match none",
                        enum=["", *AGENT_STATUSES],
                    ),
                    _query("namespace"),
                    _query("type", description="agent_type"),
                    {
                        "name": "capabilities",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "style": "form",
                        "explode": True,
                    },
                    _query(
                        "fuzzy",
                        description="'true' (any case) matches capabilities by substring; any other value "
                        "is ignored, as in Go",
                    ),
                ],
                "responses": {"200": _ok("agents"), "400": _error("bad filter")},
            },
            "post": {
                "summary": "Register an agent the guide's way",
                "requestBody": {"required": True, "content": {JSON: {"schema": GUIDE_AGENT}}},
                "responses": {
                    "200": _ok("registered"),
                    **COMMON_ERRORS,
                    "503": _error("database unavailable"),
                },
            },
        },
        "/agents/{agent_id}": {
            "delete": {
                "summary": "Graceful unregister (idempotent)",
                "parameters": [AGENT_ID],
                "responses": {"204": {"description": "unregistered (or unknown)"}},
            }
        },
        "/capabilities": {
            "get": {"summary": "Capabilities with their providers", "responses": {"200": _ok("capabilities")}}
        },
        "/events": {
            "get": {
                "summary": "Registry events, newest first",
                "parameters": [
                    _query("type"),
                    _query("agent_id"),
                    _query("function_name"),
                    _query(
                        "limit",
                        "integer",
                        "default 50; values outside 1..500 are clamped to it, as in Go (not refused)",
                    ),
                ],
                "responses": {"200": _ok("events"), "400": _error("limit is not an integer")},
            }
        },
        "/schemas": {
            "get": {
                "summary": "Canonical schemas",
                "parameters": [
                    _query("limit", "integer", "default 100; clamped to 1..1000, as in Go (not refused)")
                ],
                "responses": {"200": _ok("schemas"), "400": _error("limit is not an integer")},
            }
        },
        "/schemas/{digest}": {
            "get": {
                "summary": "One canonical schema by hash",
                "parameters": [
                    {"name": "digest", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _ok("schema"), "404": _error("unknown hash")},
            }
        },
        "/a2a/agents": {"get": {"summary": "A2A surfaces (none)", "responses": {"200": _ok("surfaces")}}},
        "/admin/backup": {
            method: {
                "summary": "Encrypted backup (AES-256-GCM with ENCRYPTION_KEY)",
                "security": BEARER,
                "responses": {
                    "200": {
                        "description": "the backup",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "401": _error("missing or wrong token"),
                    "403": _error("admin disabled (no AUTH_TOKEN)"),
                    "409": _error("no ENCRYPTION_KEY"),
                },
            }
            for method in ("get", "post")
        },
        "/admin/restore": {
            "post": {
                "summary": "Restore an encrypted backup, replacing the registry's content",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                "responses": {
                    "200": _ok("restored"),
                    "400": _error("not decryptable (wrong key or tampered) or not a backup: any other blob"),
                    "401": _error("missing or wrong token"),
                    "403": _error("admin disabled (no AUTH_TOKEN)"),
                    "409": _error("no ENCRYPTION_KEY"),
                    "413": _error("too large"),
                },
            }
        },
    }


NO_DATABASE = ("/", "/health", "/metrics", "/openapi.json", "/a2a/agents", "/trace")


def _with_outage_answers(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every route that needs the database may answer 503 (with Retry-After) while it is unreachable."""
    outage = _error("database unavailable: retry after the Retry-After seconds")
    for path, item in paths.items():
        if path in NO_DATABASE or path.startswith("/trace/"):
            continue
        for operation in item.values():
            operation["responses"].setdefault("503", outage)
    return paths


@cache
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.0.3 document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "MCP Mesh registry (lab kit)",
            "version": __version__,
            "description": "The guide's API, the MCP Mesh agent protocol and the operator routes.",
        },
        "paths": _with_outage_answers({**_routes(), **client_routes()}),
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "timestamp": {"type": "string"}},
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
