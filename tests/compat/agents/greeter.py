"""A real MCP Mesh provider agent: capability ``greeting`` version 1.2.0, tags demo and v1.

Run as a script; the registry, host, port and heartbeat interval come from MCP_MESH_* variables.
"""

import mesh
from fastmcp import FastMCP

app = FastMCP("Greeter")


@app.tool()
@mesh.tool(capability="greeting", version="1.2.0", tags=["demo", "v1"])
def greet(name: str = "World") -> str:
    """Greet someone; the consumer's answer carries this text when its dependency is wired."""
    return f"Hello from greeter, {name}!"


@mesh.agent(name="greeter", version="1.2.0", http_port=0, auto_run=True)
class Greeter:
    """Provider agent."""
