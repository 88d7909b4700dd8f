"""The lab's MCP Mesh provider agent: capability ``greeting`` (version 1.0.0, tag ``lab``).

Started by notebooks 03 and 04 through labkit.agents.start_agent; MCP_MESH_REGISTRY_URL points it at the
registry deployed on the cluster (through a port-forward), MCP_MESH_HTTP_PORT at its own port.
"""

import mesh
from fastmcp import FastMCP

app = FastMCP("Lab provider")


@app.tool()
@mesh.tool(capability="greeting", version="1.0.0", tags=["lab"])
def greet(name: str = "World") -> str:
    """A greeting; the consumer returns it when its dependency is wired to this agent."""
    return f"Hello from the lab provider, {name}!"


@mesh.agent(name="lab-provider", version="1.0.0", http_port=0, auto_run=True)
class LabProvider:
    """Provider agent."""
