"""A synthetic agent mesh for the benchmark: heartbeat payloads, load files for wrk, and registration.

Two payload shapes. ``minimal`` (the default): agent ``i`` provides one tool, capability
``cap-{i % 50}``, with tags and a version, and no dependencies. ``sdk``: shaped like the real SDK's,
the same tool with an input schema and a dependency on ``cap-{(i + 1) % 50}``, plus the three
framework tools every real agent registers, so a POST costs what a real one does (capability rows,
schemas, one dependency resolution).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

CAPABILITIES = 50
FRAMEWORK_TOOLS = ("__mesh_job_status", "__mesh_job_result", "__mesh_job_cancel")
INPUT_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def agent_id(index: int) -> str:
    """The id of synthetic agent ``index``."""
    return f"bench-agent-{index:05d}"


PAYLOAD_SHAPES = ("minimal", "sdk")


def heartbeat_payload(index: int, shape: str = "minimal") -> dict[str, Any]:
    """The POST /heartbeat body of synthetic agent ``index`` in the given shape."""
    if shape not in PAYLOAD_SHAPES:
        raise ValueError(f"unknown payload shape {shape!r}: use one of {', '.join(PAYLOAD_SHAPES)}")
    if shape == "minimal":
        return {
            "agent_id": agent_id(index),
            "name": "bench-agent",
            "version": "1.0.0",
            "http_host": "127.0.0.1",
            "http_port": 20000 + index % 40000,
            "tools": [
                {
                    "function_name": f"work_{index % CAPABILITIES}",
                    "capability": f"cap-{index % CAPABILITIES}",
                    "version": "1.0.0",
                    "tags": ["bench", f"shard-{index % 4}"],
                }
            ],
        }
    kwargs = {"task": False, "resume_cursor": False}
    tools: list[dict[str, Any]] = [
        {
            "function_name": f"work_{index % CAPABILITIES}",
            "capability": f"cap-{index % CAPABILITIES}",
            "version": "1.0.0",
            "tags": ["bench", f"shard-{index % 4}"],
            "description": "synthetic benchmark tool",
            "inputSchema": INPUT_SCHEMA,
            "kwargs": {**kwargs, "function_name": f"work_{index % CAPABILITIES}"},
            "dependencies": [
                {"capability": f"cap-{(index + 1) % CAPABILITIES}", "tags": ["bench"], "version": ">=1.0.0"}
            ],
        }
    ]
    tools += [
        {
            "function_name": name,
            "capability": name,
            "version": "1.0.0",
            "tags": ["mesh-jobs", "framework"],
            "inputSchema": {"type": "object", "properties": {"job_id": {"type": "string"}}},
            "kwargs": {**kwargs, "function_name": name},
        }
        for name in FRAMEWORK_TOOLS
    ]
    return {
        "agent_id": agent_id(index),
        "name": "bench-agent",
        "version": "1.0.0",
        "runtime": "python",
        "status": "healthy",
        "http_host": "127.0.0.1",
        "http_port": 20000 + index % 40000,
        "a2a_producer": False,
        "a2a_consumer": False,
        "tools": tools,
    }


def changed_payload(index: int, shape: str = "minimal") -> dict[str, Any]:
    """Agent ``index``'s heartbeat after a deploy: a new version, and one more tool than it had."""
    payload = heartbeat_payload(index, shape)
    payload["version"] = "1.1.0"
    payload["tools"] = [
        *payload["tools"],
        {
            "function_name": f"extra_{index % CAPABILITIES}",
            "capability": f"extra-{index % CAPABILITIES}",
            "version": "1.1.0",
            "tags": ["bench"],
        },
    ]
    return payload


def write_changing_bodies(directory: Path, indices: Iterable[int], shape: str, name: str) -> Path:
    """Both versions of each agent's heartbeat, two lines per agent, which bench/wrk/post_changed.lua
    alternates so that each POST differs from the agent's previous one."""
    bodies = directory / f"{name}.jsonl"
    lines = (
        json.dumps(heartbeat_payload(i, shape)) + "\n" + json.dumps(changed_payload(i, shape)) + "\n"
        for i in indices
    )
    bodies.write_text("".join(lines))
    return bodies


def write_bodies(directory: Path, indices: Iterable[int], shape: str, name: str) -> Path:
    """Write the POST /heartbeat bodies, one per line, that bench/wrk/post_heartbeat.lua cycles over."""
    bodies = directory / f"{name}.jsonl"
    bodies.write_text("".join(json.dumps(heartbeat_payload(i, shape)) + "\n" for i in indices))
    return bodies


async def _register(base_url: str, indices: range, shape: str, concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(index: int) -> None:
            async with semaphore:
                response = await client.post("/heartbeat", json=heartbeat_payload(index, shape))
                body = response.json()
                if response.status_code != 200 or body.get("status") != "success":
                    raise RuntimeError(f"registering {agent_id(index)} failed: {response.status_code} {body}")

        await asyncio.gather(*(one(i) for i in indices))


def register(base_url: str, indices: range, shape: str = "minimal", concurrency: int = 8) -> None:
    """Register the synthetic agents ``indices`` through POST /heartbeat; raise on any failure."""
    asyncio.run(_register(base_url, indices, shape, concurrency))


def listed_agents(base_url: str) -> int:
    """How many agents GET /agents lists."""
    response = httpx.get(base_url + "/agents", timeout=120)
    response.raise_for_status()
    return len(response.json().get("agents") or [])
