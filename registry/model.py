"""The one agent model both registration shapes decode into, and the payload decoders.

``POST /heartbeat`` (the agent protocol) and ``POST /agents`` (the guide) each decode into an
:class:`AgentRegistration`; storage, resolution and listing only ever see this model. Decoding is lenient
about unknown keys and strict about types: a type mismatch raises :class:`PayloadError` (HTTP 400), while
rule violations found by :func:`validate_registration` are semantic errors (HTTP 200, ``status: error``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

AGENT_ID_RULE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
AGENT_TYPES = ("mcp_agent", "api", "a2a")
RUNTIMES = ("python", "typescript", "java")
DESCRIPTION_LIMIT = 256


class PayloadError(ValueError):
    """The request body is not the expected JSON shape (wrong type, bad timestamp, missing id): HTTP 400."""


class RegistrationRejected(ValueError):
    """The body decodes but breaks a rule (id format, namespace, cycle): HTTP 200 with status error."""


@dataclass(frozen=True)
class DependencySpec:
    """One positional dependency of a tool: what capability it needs and how to choose a provider."""

    capability: str
    tags: tuple[str | tuple[str, ...], ...] = ()
    version: str = ""
    namespace: str = "default"
    required: bool = False
    match_mode: str | None = None
    expected_schema_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form (the agent's own field names)."""
        data: dict[str, Any] = {
            "capability": self.capability,
            "tags": [list(t) if isinstance(t, tuple) else t for t in self.tags],
            "version": self.version,
            "namespace": self.namespace,
            "required": self.required,
        }
        if self.match_mode:
            data["matchMode"] = self.match_mode
        if self.expected_schema_hash:
            data["expectedSchemaHash"] = self.expected_schema_hash
        return data

    @property
    def plain_tags(self) -> list[str]:
        """Tags without OR groups, as GET /agents shows them."""
        return [t for t in self.tags if isinstance(t, str)]


@dataclass(frozen=True)
class ToolSpec:
    """One tool an agent offers: a function providing a capability, with its own dependencies."""

    function_name: str
    capability: str
    version: str = "1.0.0"
    tags: tuple[str, ...] = ()
    description: str | None = None
    input_schema: Any = None
    output_schema: Any = None
    input_schema_hash: str | None = None
    output_schema_hash: str | None = None
    schema_warnings: tuple[str, ...] = ()
    llm_filter: dict[str, Any] | None = None
    llm_provider: dict[str, Any] | None = None
    kwargs: dict[str, Any] | None = None
    dependencies: tuple[DependencySpec, ...] = ()


@dataclass(frozen=True)
class SchemaEntry:
    """A canonical JSON schema stored by content hash (``sha256:<hex>``)."""

    hash: str
    canonical: Any
    runtime_origin: str


@dataclass
class AgentRegistration:
    """An agent as one registration describes it (either API shape)."""

    agent_id: str
    name: str = ""
    agent_type: str = "mcp_agent"
    runtime: str = "python"
    version: str = ""
    description: str | None = None
    a2a_producer: bool | None = None
    a2a_consumer: bool | None = None
    http_host: str = ""
    http_port: int = 0
    namespace: str = "default"
    tools: list[ToolSpec] = field(default_factory=list)
    surfaces: list[dict[str, Any]] | None = None
    schemas: list[SchemaEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    explicit_endpoint: str | None = None
    source: str = "heartbeat"

    @property
    def endpoint(self) -> str:
        """Where consumers dial this agent: the guide's endpoint, or http://host:port, or stdio://id."""
        return self.explicit_endpoint or endpoint_for(self.agent_id, self.http_host, self.http_port)


def endpoint_for(agent_id: str, host: str | None, port: int | None) -> str:
    """The real registry's endpoint rule."""
    if not host or not port:
        return f"stdio://{agent_id}"
    return f"http://{host}:{port}"


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise PayloadError(f"{where}{key} must be an integer, got {type(value).__name__}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        names = {"str": "a string", "bool": "a boolean", "list": "an array", "dict": "an object"}.get(
            names, names
        )
        raise PayloadError(f"{where}{key} must be {names}, got {type(value).__name__}")
    return value


def _string_list(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _typed(data, key, list, where) or []
    for item in values:
        if not isinstance(item, str):
            raise PayloadError(f"{where}{key} must be an array of strings")
    return tuple(values)


def _dependency(raw: Any, where: str) -> DependencySpec:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} must be an object, got {type(raw).__name__}")
    capability = _typed(raw, "capability", str, where)
    if not capability:
        raise PayloadError(f"{where}capability is required")
    tags: list[str | tuple[str, ...]] = []
    for tag in _typed(raw, "tags", list, where) or []:
        if isinstance(tag, str):
            tags.append(tag)
        elif isinstance(tag, list) and all(isinstance(t, str) for t in tag):
            tags.append(tuple(tag))
        else:
            raise PayloadError(f"{where}tags items must be strings or arrays of strings")
    return DependencySpec(
        capability=capability,
        tags=tuple(tags),
        version=_typed(raw, "version", str, where) or "",
        namespace=_typed(raw, "namespace", str, where) or "default",
        required=bool(_typed(raw, "required", bool, where)),
        match_mode=_typed(raw, "matchMode", str, where),
        expected_schema_hash=_typed(raw, "expectedSchemaHash", str, where),
    )


def _tool(raw: Any, index: int, runtime: str, schemas: list[SchemaEntry]) -> ToolSpec | None:
    where = f"tools[{index}]."
    if not isinstance(raw, dict):
        raise PayloadError(f"tools[{index}] must be an object")
    function_name = _typed(raw, "function_name", str, where)
    capability = _typed(raw, "capability", str, where)
    dependencies = []
    for position, dep in enumerate(_typed(raw, "dependencies", list, where) or []):
        dependencies.append(_dependency(dep, f"{where}dependencies[{position}]."))
    for which in ("input", "output"):
        digest = _typed(raw, f"{which}SchemaHash", str, where)
        canonical = raw.get(f"{which}SchemaCanonical")
        if digest and canonical is not None:
            schemas.append(SchemaEntry(digest, canonical, runtime))
    # Every field is type-checked first (Go's binding refuses a wrong type anywhere in the body); only
    # then is a tool without a name or capability skipped, as the real registry silently does.
    tool = ToolSpec(
        function_name=function_name or "",
        capability=capability or "",
        version=_typed(raw, "version", str, where) or "1.0.0",
        tags=_string_list(raw, "tags", where),
        description=_typed(raw, "description", str, where),
        input_schema=_typed(raw, "inputSchema", dict, where),
        output_schema=_typed(raw, "outputSchema", dict, where),
        input_schema_hash=_typed(raw, "inputSchemaHash", str, where),
        output_schema_hash=_typed(raw, "outputSchemaHash", str, where),
        schema_warnings=_string_list(raw, "schemaWarnings", where),
        llm_filter=_typed(raw, "llm_filter", dict, where),
        llm_provider=_typed(raw, "llm_provider", dict, where),
        kwargs=_typed(raw, "kwargs", dict, where),
        dependencies=tuple(dependencies),
    )
    return tool if function_name and capability else None


def decode_heartbeat(body: Any) -> AgentRegistration:
    """Decode a ``POST /heartbeat`` body (``MeshAgentRegistration``); raise PayloadError on a bad shape."""
    if not isinstance(body, dict):
        raise PayloadError("the body must be a JSON object")
    agent_id = _typed(body, "agent_id", str, "")
    if not agent_id:
        raise PayloadError("agent_id is required")
    timestamp = _typed(body, "timestamp", str, "")
    if timestamp is not None:
        try:
            datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise PayloadError(f"timestamp must be RFC3339, got {timestamp!r}") from None
    runtime = _typed(body, "runtime", str, "") or "python"
    schemas: list[SchemaEntry] = []
    tools = []
    for index, raw in enumerate(_typed(body, "tools", list, "") or []):
        tool = _tool(raw, index, runtime, schemas)
        if tool is not None:
            tools.append(tool)
    surfaces = _typed(body, "surfaces", list, "")
    description = _typed(body, "description", str, "")
    warnings = []
    if description is not None:
        description = description.strip()
        if len(description) > DESCRIPTION_LIMIT:
            warnings.append(f"description truncated from {len(description)} to {DESCRIPTION_LIMIT} chars")
            description = description[:DESCRIPTION_LIMIT]
    return AgentRegistration(
        agent_id=agent_id,
        name=_typed(body, "name", str, "") or agent_id,
        agent_type=_typed(body, "agent_type", str, "") or "mcp_agent",
        runtime=runtime,
        version=_typed(body, "version", str, "") or "",
        description=description,
        a2a_producer=_typed(body, "a2a_producer", bool, ""),
        a2a_consumer=_typed(body, "a2a_consumer", bool, ""),
        http_host=_typed(body, "http_host", str, "") or "",
        http_port=_typed(body, "http_port", int, "") or 0,
        namespace=_typed(body, "namespace", str, "") or "default",
        tools=tools,
        surfaces=surfaces if surfaces else None,
        schemas=schemas,
        warnings=warnings,
    )


def validate_registration(reg: AgentRegistration) -> None:
    """The real registry's service-level rules; raise RegistrationRejected with its message."""
    problems = []
    if len(reg.agent_id) > 253 or not AGENT_ID_RULE.match(reg.agent_id):
        problems.append("agent_id: agent_id must contain only lowercase alphanumeric characters and hyphens")
    if reg.name != reg.agent_id and (len(reg.name) > 63 or not AGENT_ID_RULE.match(reg.name)):
        problems.append("name: name must contain only lowercase alphanumeric characters and hyphens")
    if len(reg.namespace) > 63 or not AGENT_ID_RULE.match(reg.namespace):
        problems.append(
            "namespace: namespace must contain only lowercase alphanumeric characters and hyphens"
        )
    if reg.agent_type not in AGENT_TYPES:
        problems.append(f"agent_type: must be one of {', '.join(AGENT_TYPES)}")
    if reg.runtime not in RUNTIMES:
        problems.append(f"runtime: must be one of {', '.join(RUNTIMES)}")
    if not 0 <= reg.http_port <= 65535:
        problems.append("http_port: must be from 0 to 65535")
    if problems:
        raise RegistrationRejected("validation failed: " + "; ".join(problems))


def decode_guide_agent(body: Any) -> AgentRegistration:
    """Decode the guide's ``POST /agents`` body ``{"id", "capabilities": [str], "endpoint"}``.

    Raises PayloadError naming the first wrong field; each capability becomes one tool of that name.
    """
    if not isinstance(body, dict):
        raise PayloadError("the body must be a JSON object with id, capabilities and endpoint")
    agent_id = body.get("id")
    if not isinstance(agent_id, str) or not agent_id:
        raise PayloadError("id is required and must be a non-empty string")
    if len(agent_id) > 253 or not AGENT_ID_RULE.match(agent_id):
        raise PayloadError(f"id {agent_id!r} must contain only lowercase alphanumeric characters and hyphens")
    capabilities = body.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) and c for c in capabilities):
        raise PayloadError("capabilities must be an array of non-empty strings")
    if len(set(capabilities)) != len(capabilities):
        raise PayloadError("capabilities must not repeat a name")
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str):
        raise PayloadError("endpoint is required and must be a string such as http://host:port")
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise PayloadError(f"endpoint {endpoint!r} must look like http://host:port")
    version = body.get("version", "1.0.0")
    if not isinstance(version, str):
        raise PayloadError("version must be a string")
    tools = [
        ToolSpec(function_name=name, capability=name, version=version or "1.0.0") for name in capabilities
    ]
    return AgentRegistration(
        agent_id=agent_id,
        name=agent_id,
        http_host=parts.hostname,
        http_port=port,
        tools=tools,
        explicit_endpoint=endpoint.rstrip("/"),
        version=version,
        source="guide",
    )


# ---- how a registration is stored: the real registry's rules and the words its events carry -------


def new_agent_row(reg: AgentRegistration, now: float) -> dict[str, Any]:
    """The stored agent for a first registration."""
    return {
        "agent_id": reg.agent_id,
        "name": reg.name or reg.agent_id,
        "agent_type": reg.agent_type,
        "runtime": reg.runtime,
        "version": reg.version or None,
        "description": reg.description or "",
        "a2a_producer": bool(reg.a2a_producer),
        "a2a_consumer": bool(reg.a2a_consumer),
        "http_host": reg.http_host or None,
        "http_port": reg.http_port or None,
        "endpoint": reg.endpoint,
        "namespace": reg.namespace,
        "status": "healthy",
        "source": reg.source,
        "a2a_surfaces": reg.surfaces,
        "created_at": now,
        "updated_at": now,
        "last_full_refresh": now,
    }


def updated_agent_values(reg: AgentRegistration, old: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The real registry's rule: overwrite metadata only where the request carries a non-default value."""
    values: dict[str, Any] = {"status": "healthy", "updated_at": now, "last_full_refresh": now}
    if reg.source == "guide":
        values.update(
            endpoint=reg.endpoint,
            http_host=reg.http_host,
            http_port=reg.http_port,
            version=reg.version or None,
            source="guide",
        )
        return values
    if reg.agent_type != "mcp_agent":
        values["agent_type"] = reg.agent_type
    if reg.runtime != "python":
        values["runtime"] = reg.runtime
    if reg.name and reg.name != reg.agent_id:
        values["name"] = reg.name
    if reg.namespace != "default":
        values["namespace"] = reg.namespace
    if reg.version:
        values["version"] = reg.version
    host = reg.http_host or old["http_host"]
    port = reg.http_port or old["http_port"]
    if reg.http_host:
        values["http_host"] = reg.http_host
    if reg.http_port:
        values["http_port"] = reg.http_port
    if reg.description is not None:
        values["description"] = reg.description
    if reg.a2a_producer is not None:
        values["a2a_producer"] = reg.a2a_producer
    if reg.a2a_consumer is not None:
        values["a2a_consumer"] = reg.a2a_consumer
    if reg.surfaces is not None:
        values["a2a_surfaces"] = reg.surfaces
    values["endpoint"] = endpoint_for(reg.agent_id, host, port)
    values["source"] = "heartbeat"
    return values


def _seconds_rfc3339(seconds: float) -> str:
    """RFC 3339 to the second, as the real registry's status hook writes ``detected_at``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def register_event_data(reg: AgentRegistration) -> dict[str, Any]:
    """The ``register`` event of a first registration."""
    return {"agent_type": reg.agent_type, "name": reg.name, "version": reg.version}


def recovery_event_data(old_status: str, now: float) -> dict[str, Any]:
    """The ``register`` event of an unhealthy agent that posted again."""
    return {
        "description": "Agent recovered to healthy status",
        "detected_at": _seconds_rfc3339(now),
        "new_status": "healthy",
        "old_status": old_status,
        "reason": "recovery",
        "source": "status_change_hook",
        "transition_type": "unhealthy_to_healthy",
    }


def unregister_event_data(agent_type: str, name: str, version: str | None) -> dict[str, Any]:
    """The ``unregister`` event of a graceful DELETE."""
    return {
        "agent_type": agent_type,
        "name": name,
        "reason": "graceful_shutdown",
        "source": "delete_endpoint",
        "version": version or "",
    }


def unhealthy_event_data(reason: str, now: float) -> dict[str, Any]:
    """The ``unhealthy`` event the health monitor writes for a silent agent."""
    return {
        "description": "Agent health degraded: no heartbeat within the timeout",
        "detected_at": _seconds_rfc3339(now),
        "new_status": "unhealthy",
        "old_status": "healthy",
        "reason": reason,
        "source": "status_change_hook",
        "transition_type": "healthy_to_unhealthy",
    }
