"""The API's own OpenAPI 3.0 document, served at ``/openapi.json`` and kept true by a test.

Each route is declared once here with its parameters, body and responses; the test compares the
paths and methods with the app's URL map.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from registry import __version__

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
    "schema": {"type": "string", "minLength": 1, "maxLength": 253},
}
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
        "agent_type": {"type": "string", "enum": ["mcp_agent", "api", "a2a"]},
        "runtime": {"type": "string", "enum": ["python", "typescript", "java"]},
        "version": {"type": "string"},
        "description": {"type": "string"},
        "http_host": {"type": "string"},
        "http_port": {"type": "integer", "minimum": 0, "maximum": 65535},
        "namespace": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "tools": {"type": "array", "items": TOOL},
    },
}
GUIDE_AGENT = {
    "type": "object",
    "required": ["id", "capabilities", "endpoint"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", "maxLength": 253},
        "capabilities": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
        "endpoint": {"type": "string", "example": "http://agent-1:8080"},
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
                "responses": {
                    "200": {"description": "no change"},
                    "202": {"description": "topology changed: send a full heartbeat"},
                    "410": {"description": "unknown or unhealthy: register again"},
                    "503": {"description": "registry trouble: back off"},
                },
            }
        },
        "/agents": {
            "get": {
                "summary": "List agents (the real registry's shape; empty lists are null)",
                "parameters": [
                    _query("status", description="healthy, unhealthy or unknown"),
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
                    _query("fuzzy", "boolean"),
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
                    _query("limit", "integer", minimum=1, maximum=500),
                ],
                "responses": {"200": _ok("events")},
            }
        },
        "/schemas": {
            "get": {
                "summary": "Canonical schemas",
                "parameters": [_query("limit", "integer", minimum=1, maximum=1000)],
                "responses": {"200": _ok("schemas")},
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
        "/jobs/claim": {
            "post": {
                "summary": "MeshJob claim (always empty here)",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["capability", "instance_id"],
                                "properties": {
                                    "capability": {"type": "string", "minLength": 1},
                                    "instance_id": {"type": "string", "minLength": 1},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok("no work", {"type": "object", "properties": {"claimed": {"type": "array"}}}),
                    "400": _error("malformed body, or capability / instance_id missing"),
                },
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
                    "400": _error("not decryptable (wrong key or tampered) or not a backup"),
                    "401": _error("missing or wrong token"),
                    "403": _error("admin disabled (no AUTH_TOKEN)"),
                    "409": _error("no ENCRYPTION_KEY"),
                    "413": _error("too large"),
                },
            }
        },
    }


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
        "paths": _routes(),
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
