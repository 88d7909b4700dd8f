"""The OpenAPI paths of the routes for clients other than the agents' heartbeats.

MeshJobs (``task=True`` tool calls), ``/admin/drain``, ``/proxy`` and ``/trace``: what ``meshctl`` and the
agents' job runtime use. Kept apart from ``registry/openapi.py`` so each file stays about one audience.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
NON_BLANK = {"type": "string", "pattern": r"\S"}  # empty or all-blank is "missing", as in Go
INT32 = 2**31 - 1
EPOCH_LIMIT = 2**53
STATUS_NAMES = "working|input_required|completed|failed|cancelled"
STATUS_LIST = f"^ *(({STATUS_NAMES}) *)?(, *(({STATUS_NAMES}) *)?)*$"
JOB_STATUS = {"type": "string", "enum": ["working", "input_required", "completed", "failed", "cancelled"]}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ERROR}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema or {"type": "object"}}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _integer(name: str, minimum: int, maximum: int | None = None, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _string(name: str, description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
JOB = {
    "type": "object",
    "required": ["id", "capability", "status", "submitted_payload", "attempt_count", "claim_epoch"],
    "properties": {
        "id": {"type": "string"},
        "capability": {"type": "string"},
        "status": JOB_STATUS,
        "submitted_payload": {"type": "object"},
        "attempt_count": {"type": "integer"},
        "claim_epoch": {"type": "integer"},
        "max_retries": {"type": "integer"},
        "owner_instance_id": {"type": "string", "nullable": True},
        "progress": {"type": "number", "nullable": True},
        "progress_message": {"type": "string", "nullable": True},
        "result": {"nullable": True},
        "error": {"type": "string", "nullable": True},
        "submitted_at": {"type": "integer", "description": "epoch seconds"},
        "lease_expires_at": {"type": "integer", "nullable": True, "description": "epoch seconds"},
    },
}
NEW_JOB = {
    "type": "object",
    "required": ["capability", "submitted_payload", "submitted_by"],
    "properties": {
        "capability": NON_BLANK,
        "submitted_payload": {"type": "object"},
        "submitted_by": NON_BLANK,
        "owner_instance_id": {"type": "string", "nullable": True, "description": "push mode: pin the owner"},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": INT32, "nullable": True},
        "max_duration": {
            "type": "integer",
            "minimum": 1,
            "maximum": INT32,
            "nullable": True,
            "description": "lease seconds (default 300)",
        },
        "total_deadline": {
            "type": "integer",
            "minimum": -EPOCH_LIMIT,
            "maximum": EPOCH_LIMIT,
            "nullable": True,
            "description": "epoch seconds",
        },
    },
}
DELTA = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": NON_BLANK,
        "claim_epoch": {"type": "integer", "minimum": 0, "maximum": EPOCH_LIMIT, "nullable": True},
        "status": {
            "type": "string",
            "nullable": True,
            "description": "any other value is rejected per delta as invalid_status (200), as in Go",
        },
        "progress": {"type": "number", "nullable": True},
        "progress_message": {"type": "string", "nullable": True},
        "result": {"type": "object", "nullable": True},
        "error": {"type": "string", "nullable": True},
        "recv_cursor": {"type": "object", "nullable": True},
    },
}
DRAIN = _ok(
    "drain state of this replica (in memory) and live claims (from the database)",
    {
        "type": "object",
        "required": ["draining", "live_claims"],
        "properties": {"draining": {"type": "boolean"}, "live_claims": {"type": "integer"}},
    },
)
DRAIN_ERRORS = {"401": _error("AUTH_TOKEN is set and the token is missing or wrong")}
TRACE_OFF = _ok("tracing is not configured on this registry (as Go answers without a backend)")


def job_routes() -> dict[str, dict[str, Any]]:
    """The MeshJob paths (the protocol's §7)."""
    not_found, terminal = _error("unknown job"), _error("the job is already completed, failed or cancelled")
    return {
        "/jobs": {
            "get": {
                "summary": "List jobs, newest first",
                "parameters": [
                    {
                        **_string("status", "comma-separated job statuses"),
                        "schema": {"type": "string", "pattern": STATUS_LIST},
                    },
                    _string("owner_instance_id"),
                    _string("capability"),
                    _integer("submitted_since", 0, EPOCH_LIMIT, "epoch seconds"),
                    _integer("limit", 1, 200),
                    {
                        **_string(
                            "cursor", "next_cursor of a previous page, opaque: any other value is a 400"
                        ),
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
                    },
                ],
                "responses": {"200": _ok("a page of jobs"), "400": _error("bad filter, limit or cursor")},
            },
            "post": {
                "summary": "Submit a job (pull mode, or push mode with owner_instance_id)",
                "requestBody": _body(NEW_JOB),
                "responses": {
                    "201": _ok("queued"),
                    "400": _error("a field is missing or has the wrong type"),
                },
            },
        },
        "/jobs/claim": {
            "post": {
                "summary": "Claim at most one job; none while draining or for an unregistered instance",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["capability", "instance_id"],
                        "properties": {"capability": NON_BLANK, "instance_id": NON_BLANK},
                    }
                ),
                "responses": {
                    "200": _ok("claimed jobs (empty: no work)", {"type": "object", "required": ["claimed"]}),
                    "400": _error("malformed body, or capability / instance_id missing"),
                },
            }
        },
        "/jobs/batch": {
            "post": {
                "summary": "Progress and terminal deltas from one owner; accepted ones renew the lease",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["instance_id", "deltas"],
                        "properties": {
                            "instance_id": NON_BLANK,
                            "deltas": {"type": "array", "minItems": 1, "items": DELTA},
                        },
                    }
                ),
                "responses": {
                    "200": _ok("accepted count and per-delta rejections (not_found, not_owner, ...)"),
                    "400": _error("malformed body"),
                },
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "summary": "One job",
                "parameters": [JOB_ID],
                "responses": {"200": _ok("the job", JOB), "404": not_found},
            }
        },
        "/jobs/{job_id}/release": {
            "post": {
                "summary": "The owner gives a job back (or it fails when its attempts are spent)",
                "parameters": [JOB_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["instance_id"],
                        "properties": {
                            "instance_id": NON_BLANK,
                            "reason": {"type": "string", "nullable": True},
                        },
                    }
                ),
                "responses": {
                    "200": _ok("status and attempt_count"),
                    "400": _error("malformed body"),
                    "403": _error("the caller is not the owner"),
                    "404": not_found,
                    "409": terminal,
                },
            }
        },
        "/jobs/{job_id}/cancel": {
            "post": {
                "summary": "Cancel (stored first, with a 'cancelled' event), then tell the owner",
                "parameters": [JOB_ID],
                "requestBody": _body(
                    {"type": "object", "properties": {"reason": {"type": "string", "nullable": True}}}, False
                ),
                "responses": {
                    "200": _ok("cancelled"),
                    "400": _error("malformed body"),
                    "404": not_found,
                    "409": terminal,
                },
            }
        },
        "/jobs/{job_id}/reclaim": {
            "post": {
                "summary": "Evict the owner: the job is claimable again (meshctl job reclaim)",
                "parameters": [JOB_ID],
                "responses": {
                    "200": _ok("reclaimed"),
                    "404": not_found,
                    "409": _error("terminal, or claimed again concurrently"),
                },
            }
        },
        "/jobs/{job_id}/events": {
            "get": {
                "summary": "The job's events after 'after'; 'wait' long-polls; an owner's read is fenced",
                "description": (
                    "instance_id and claim_epoch go together (an executor read, which renews the lease); "
                    "one without the other is a 400, as in Go."
                ),
                "parameters": [
                    JOB_ID,
                    _integer("after", 0, EPOCH_LIMIT),
                    _string("types", "comma-separated event types"),
                    _integer("wait", 0, 60, "seconds to wait for the first event"),
                    _integer("limit", 1, 500),
                    _string("instance_id", "with claim_epoch (empty: absent, as in Go)"),
                    _integer("claim_epoch", 0, EPOCH_LIMIT, "with instance_id"),
                ],
                "responses": {
                    "200": _ok("events and next_after"),
                    "400": _error("bad parameter, or instance_id without claim_epoch (or the reverse)"),
                    "404": not_found,
                    "409": _error("claim_superseded: a newer claim fenced this reader"),
                },
            },
            "post": {
                "summary": "Append an event to a live job",
                "parameters": [JOB_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": NON_BLANK,
                            "payload": {},
                            "trace_context": {"type": "object", "nullable": True},
                        },
                    }
                ),
                "responses": {
                    "200": _ok("job_id, seq, created_at"),
                    "400": _error("malformed body"),
                    "404": not_found,
                    "409": terminal,
                },
            },
        },
    }


def client_routes() -> dict[str, dict[str, Any]]:
    """Every path of this module: jobs, drain, proxy, trace."""
    proxy_operation = {
        "summary": "Forward to a healthy registered agent's MCP path (meshctl call); JSON or SSE back",
        "description": (
            "Only host:port of a healthy registered agent and only /mcp or below; dot segments, encoded "
            "separators and upstream redirects are refused (403). Timeout: X-Mesh-Timeout seconds when "
            "sent, else MCP_MESH_PROXY_TIMEOUT (at most 600 s)."
        ),
        "parameters": [
            {
                "name": "rest",
                "in": "path",
                "required": True,
                "description": "{host}:{port}/mcp[/...]",
                "schema": {"type": "string", "pattern": r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}/mcp(/.*)?$"},
            }
        ],
        "responses": {
            "200": {"description": "the agent's answer, streamed"},
            "400": _error("not {host}:{port}/..."),
            "403": _error("not a registered agent, not an MCP path, or a redirect"),
            "404": _error("no route: nothing (or a control character) after /proxy/"),
            "502": _error("the agent is unreachable"),
            "504": _error("the agent did not answer within the timeout"),
        },
    }
    return {
        **job_routes(),
        "/admin/drain": {
            method: {
                "summary": summary,
                "description": "Open when AUTH_TOKEN is unset (as in Go); otherwise bearer or basic auth.",
                "security": [{}, {"bearer": []}],
                "responses": {"200": DRAIN, **DRAIN_ERRORS},
            }
            for method, summary in (
                ("get", "Drain state"),
                ("post", "Start draining: claims answer no work"),
                ("delete", "Resume claims"),
            )
        },
        "/proxy/{rest}": {method: proxy_operation for method in ("get", "post", "delete")},
        "/trace/status": {"get": {"summary": "Tracing status", "responses": {"200": TRACE_OFF}}},
        "/trace/stats": {"get": {"summary": "Tracing statistics", "responses": {"200": TRACE_OFF}}},
        "/trace/info": {"get": {"summary": "Tracing configuration", "responses": {"200": TRACE_OFF}}},
        "/trace/{trace_id}": {
            "get": {
                "summary": "One trace: never found without a tracing backend",
                "parameters": [
                    {"name": "trace_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"404": _ok("tracing not enabled")},
            }
        },
    }
