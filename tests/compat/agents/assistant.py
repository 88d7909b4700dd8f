"""A real MCP Mesh consumer agent: ``smart_greet`` depends on ``greeting`` (tags demo,+v1; >=1.0.0).

Run as a script; the registry, host, port and heartbeat interval come from MCP_MESH_* variables.
"""

import mesh
from fastmcp import FastMCP
from mesh.types import McpMeshTool

app = FastMCP("Assistant")

UNRESOLVED_ANSWER = "greeting dependency unresolved"


@app.tool()
@mesh.tool(
    capability="smart_greeting",
    dependencies=[{"capability": "greeting", "tags": ["demo", "+v1"], "version": ">=1.0.0"}],
)
async def smart_greet(name: str = "World", greeting: McpMeshTool | None = None) -> str:
    """Ask the provider for a greeting through the injected dependency, or say it is missing."""
    if greeting is None:
        return UNRESOLVED_ANSWER
    return str(await greeting(name=name))


@mesh.agent(name="assistant", version="1.0.0", http_port=0, auto_run=True)
class Assistant:
    """Consumer agent."""
