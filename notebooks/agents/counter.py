"""The lab's MCP Mesh provider of a long-running tool: ``count`` (capability ``slow_count``, ``task=True``).

Started by notebooks 04 and 07 to hold a MeshJob across a registry upgrade: it claims ``slow_count``
jobs from the registry and reports progress after each step; MCP_MESH_* variables point it at the
registry on the cluster (through a port-forward).
"""

import asyncio

import mesh
from fastmcp import FastMCP
from mesh.types import MeshJob

app = FastMCP("Lab counter")


@app.tool()
@mesh.tool(capability="slow_count", version="1.0.0", tags=["lab"], task=True)
async def count(steps: int = 3, delay: float = 0.3, job: MeshJob = None) -> dict:
    """Count to ``steps``, one step every ``delay`` seconds, reporting progress after each."""
    for step in range(1, steps + 1):
        await asyncio.sleep(delay)
        if job is not None:
            await job.update_progress(step / steps, f"step {step} of {steps}")
    return {"counted": steps}


@mesh.agent(name="lab-counter", version="1.0.0", http_port=0, auto_run=True)
class LabCounter:
    """Provider agent with a task=True tool."""
