"""A real MCP Mesh provider of a long-running tool: ``count`` (capability ``slow_count``, ``task=True``).

Each step reports progress through the injected MeshJob; a cancelled job stops at its next step.
Run as a script; the registry, host, port and heartbeat interval come from MCP_MESH_* variables.
"""

import asyncio

import mesh
from fastmcp import FastMCP
from mesh.types import MeshJob

app = FastMCP("Counter")


@app.tool()
@mesh.tool(capability="slow_count", version="1.0.0", tags=["demo"], task=True)
async def count(steps: int = 3, delay: float = 0.3, job: MeshJob = None) -> dict:
    """Count to ``steps``, one step every ``delay`` seconds, reporting progress after each."""
    for step in range(1, steps + 1):
        await asyncio.sleep(delay)
        if job is not None:
            await job.update_progress(step / steps, f"step {step} of {steps}")
    return {"counted": steps}


@mesh.agent(name="counter", version="1.0.0", http_port=0, auto_run=True)
class Counter:
    """Provider agent with a task=True tool."""
