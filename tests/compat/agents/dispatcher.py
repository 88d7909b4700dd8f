"""A real MCP Mesh consumer of ``slow_count`` that submits it as a MeshJob (a ``task=True`` call).

``run_count`` submits and waits for the result; ``start_count`` submits and returns the job id, so a
test can watch the job through the registry, cancel it (``cancel_count``) and see where it ended.
Run as a script; the registry, host, port and heartbeat interval come from MCP_MESH_* variables.
"""

import json

import mesh
from fastmcp import FastMCP
from mesh.types import MeshJob

app = FastMCP("Dispatcher")

UNRESOLVED_ANSWER = "slow_count dependency unresolved"


@app.tool()
@mesh.tool(capability="count_runner", dependencies=["slow_count"])
async def run_count(steps: int = 3, delay: float = 0.3, slow_count: MeshJob = None) -> str:
    """Submit ``slow_count`` as a job and wait for its result (JSON text)."""
    if slow_count is None:
        return UNRESOLVED_ANSWER
    job = await slow_count.submit(steps=steps, delay=delay, max_duration=120)
    result = await job.wait(timeout_secs=120)
    return json.dumps({"job_id": job.job_id, "result": result}, sort_keys=True)


@app.tool()
@mesh.tool(capability="count_starter", dependencies=["slow_count"])
async def start_count(steps: int = 50, delay: float = 0.5, slow_count: MeshJob = None) -> str:
    """Submit ``slow_count`` as a job and return its id at once."""
    if slow_count is None:
        return UNRESOLVED_ANSWER
    job = await slow_count.submit(steps=steps, delay=delay, max_duration=120)
    return str(job.job_id)


@app.tool()
@mesh.tool(capability="count_canceller")
async def cancel_count(job_id: str, reason: str = "no longer needed") -> str:
    """Cancel a job through the SDK (``mesh.jobs.cancel``) and return its status afterwards (JSON)."""
    from mesh import jobs

    await jobs.cancel(job_id, reason)
    return json.dumps(await jobs.status(job_id), sort_keys=True, default=str)


@mesh.agent(name="dispatcher", version="1.0.0", http_port=0, auto_run=True)
class Dispatcher:
    """Consumer agent submitting MeshJobs."""
