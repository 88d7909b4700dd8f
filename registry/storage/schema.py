"""The tables, declared once with SQLAlchemy Core for every dialect.

Times are float epoch seconds (``Double``) so that comparisons and precision are the same everywhere;
JSON columns use SQLAlchemy's portable ``JSON`` type.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere use a 64-bit id.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

schema_version = sa.Table(
    "registry_schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("agent_id", sa.String(253), primary_key=True),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("agent_type", sa.String(32), nullable=False, default="mcp_agent"),
    sa.Column("runtime", sa.String(32), nullable=True),
    sa.Column("version", sa.String(255), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("a2a_producer", sa.Boolean, nullable=False, default=False),
    sa.Column("a2a_consumer", sa.Boolean, nullable=False, default=False),
    sa.Column("http_host", sa.String(255), nullable=True),
    sa.Column("http_port", sa.Integer, nullable=True),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("namespace", sa.String(63), nullable=False, default="default"),
    sa.Column("status", sa.String(16), nullable=False, default="healthy"),
    sa.Column("source", sa.String(16), nullable=False, default="heartbeat"),
    sa.Column("total_dependencies", sa.Integer, nullable=False, default=0),
    sa.Column("dependencies_resolved", sa.Integer, nullable=False, default=0),
    sa.Column("dependency_resolutions", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("llm_tool_resolutions", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("llm_provider_resolutions", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("a2a_surfaces", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("last_full_refresh", sa.Double, nullable=False),
    # The newest event id the agent's last resolution had seen: a newer topology event means a 202.
    sa.Column("seen_event_id", sa.BigInteger, nullable=False, default=0, server_default="0"),
    # A fingerprint of the registration that wrote the row: a replica on a shared database confirms an
    # unchanged re-post with one UPDATE on it instead of rewriting the agent and its tools. Hex, since
    # aiomysql cannot pass bytes parameters.
    sa.Column("content_digest", sa.String(32), nullable=True),
    sa.Index("ix_agents_status_updated", "status", "updated_at"),
    sa.Index("ix_agents_namespace", "namespace"),
)

capabilities = sa.Table(
    "capabilities",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "agent_id",
        sa.String(253),
        sa.ForeignKey("agents.agent_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("function_name", sa.String(255), nullable=False),
    sa.Column("capability", sa.String(255), nullable=False, index=True),
    sa.Column("version", sa.String(255), nullable=False, default="1.0.0"),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("input_schema", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("output_schema", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("input_schema_hash", sa.String(80), nullable=True),
    sa.Column("output_schema_hash", sa.String(80), nullable=True),
    sa.Column("schema_warnings", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("llm_filter", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("llm_provider", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("kwargs", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("dependencies", sa.JSON(none_as_null=True), nullable=True),
)

registry_events = sa.Table(
    "registry_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_type", sa.String(32), nullable=False, index=True),
    sa.Column("agent_id", sa.String(253), nullable=False, index=True),
    sa.Column("agent_name", sa.String(253), nullable=True),
    sa.Column("function_name", sa.String(255), nullable=True),
    sa.Column("timestamp", sa.Double, nullable=False, index=True),
    sa.Column("data", sa.JSON, nullable=False),
)

# One row: the last event id handed out. Taking the next id locks this row until the writer commits, so
# events commit in id order on every database and "id <= N is visible" follows from "N is visible".
event_sequence = sa.Table(
    "registry_event_sequence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_event_id", sa.BigInteger, nullable=False),
)

schema_entries = sa.Table(
    "schema_entries",
    metadata,
    sa.Column("hash", sa.String(80), primary_key=True),
    sa.Column("canonical", sa.JSON, nullable=False),
    sa.Column("runtime_origin", sa.String(16), nullable=False, default="unknown"),
    sa.Column("created_at", sa.Double, nullable=False),
)

# Event types that change the mesh's topology: a newer one makes an agent's HEAD answer 202.
TOPOLOGY_EVENTS = ("register", "unregister", "unhealthy", "rotate")
