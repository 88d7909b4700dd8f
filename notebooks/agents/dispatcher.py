"""The lab's MCP Mesh consumer of ``slow_count``: ``start_count`` submits it as a MeshJob and returns its id.

Started by notebooks 04 and 07; the lesson follows the job through the registry (``GET /jobs/{id}``)
while the registry is drained and restarted.
"""

import mesh
from fastmcp import FastMCP
from mesh.types import MeshJob

app = FastMCP("Lab dispatcher")


@app.tool()
@mesh.tool(capability="count_starter", dependencies=["slow_count"])
async def start_count(steps: int = 20, delay: float = 0.5, slow_count: MeshJob = None) -> str:
    """Submit ``slow_count`` as a job and return its id at once ("unresolved" until it is wired)."""
    if slow_count is None:
        return "unresolved"
    job = await slow_count.submit(steps=steps, delay=delay, max_duration=300)
    return str(job.job_id)


@mesh.agent(name="lab-dispatcher", version="1.0.0", http_port=0, auto_run=True)
class LabDispatcher:
    """Consumer agent submitting MeshJobs."""
