"""The lab's MCP Mesh consumer agent: ``welcome`` depends on the capability ``greeting`` (tag ``lab``).

The registry resolves the dependency and the mesh runtime injects a proxy for the provider's tool;
until then ``welcome`` answers UNRESOLVED.
"""

import mesh
from fastmcp import FastMCP
from mesh.types import McpMeshTool

app = FastMCP("Lab consumer")

UNRESOLVED = "greeting dependency unresolved"


@app.tool()
@mesh.tool(capability="welcome", dependencies=[{"capability": "greeting", "tags": ["lab"]}])
async def welcome(name: str = "World", greeting: McpMeshTool | None = None) -> str:
    """Welcome someone with the provider's greeting, or say the dependency is missing."""
    if greeting is None:
        return UNRESOLVED
    return str(await greeting(name=name))


@mesh.agent(name="lab-consumer", version="1.0.0", http_port=0, auto_run=True)
class LabConsumer:
    """Consumer agent."""
