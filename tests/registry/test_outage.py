"""A PostgreSQL outage as a user meets it: the database refuses the registry's connections.

The real registry process reaches PostgreSQL through a loopback relay the test cuts and restores
(the machine's PostgreSQL service stays up for everyone else). While it is cut, every route that needs
the database answers 503 with a JSON reason and Retry-After; what is served from memory still is; no
traceback is logged; and the registry recovers by itself once the database is back.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.agent_processes import wait_for
from tests.processes import RunningProcess, run_registry
from tests.tcp_proxy import TcpRelay

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

PG = ("127.0.0.1", 5432)
JOB = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def registry_on_relay(relay: TcpRelay, tmp_path: Path) -> Iterator[RunningProcess]:
    import asyncio

    import asyncpg

    name = f"registry_outage_{secrets.token_hex(5)}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(host=PG[0], port=PG[1], user="postgres", database="postgres")
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{relay.port}/{name}",
        "AGENT_TIMEOUT": "1h",
        "HEALTH_CHECK_INTERVAL": "1s",
    }
    try:
        with run_registry(tmp_path, env) as registry:
            yield registry
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def heartbeat(agent_id: str) -> dict[str, Any]:
    tools = [
        {"function_name": "f", "capability": "cap", "version": "1.0.0", "tags": [], "kwargs": {"task": True}}
    ]
    return {"agent_id": agent_id, "http_host": "127.0.0.1", "http_port": 9, "tools": tools}


# Every route that needs the database, with a body where it takes one.
DATABASE_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/heartbeat", heartbeat("newcomer")),
    ("POST", "/agents", {"id": "guide-agent", "capabilities": ["x"], "endpoint": "http://127.0.0.1:9"}),
    ("DELETE", "/agents/known", None),
    ("GET", "/events", None),
    ("GET", "/schemas", None),
    ("GET", "/schemas/sha256:00", None),
    ("GET", "/capabilities", None),
    ("GET", "/ready", None),
    ("POST", "/jobs", {"capability": "cap", "submitted_by": "x", "submitted_payload": {}}),
    ("GET", "/jobs", None),
    ("GET", f"/jobs/{JOB}", None),
    ("POST", "/jobs/claim", {"capability": "cap", "instance_id": "known"}),
    ("POST", "/jobs/batch", {"instance_id": "known", "deltas": [{"id": JOB, "progress": 0.5}]}),
    ("GET", f"/jobs/{JOB}/events", None),
    ("POST", f"/jobs/{JOB}/events", {"type": "answer"}),
    ("POST", f"/jobs/{JOB}/cancel", None),
    ("POST", f"/jobs/{JOB}/reclaim", None),
    ("POST", f"/jobs/{JOB}/release", {"instance_id": "known"}),
    ("GET", "/admin/drain", None),
    ("POST", "/proxy/127.0.0.1:9/mcp", None),
]


def test_every_database_route_answers_503_with_a_reason_and_recovers(
    registry_on_relay: RunningProcess, relay: TcpRelay
) -> None:
    registry = registry_on_relay
    with httpx.Client(base_url=registry.url, timeout=30) as client:
        assert client.post("/heartbeat", json=heartbeat("known")).status_code == 200
        relay.stop()
        log_before = len(registry.log())
        answers = {}
        for method, path, body in DATABASE_ROUTES:
            response = client.request(method, path, json=body)
            answers[f"{method} {path}"] = response
        wrong = {
            route: f"{r.status_code} {r.text[:200]}"
            for route, r in answers.items()
            if r.status_code != 503 or not r.headers["content-type"].startswith("application/json")
        }
        assert not wrong, f"routes that did not answer 503 with JSON during the outage: {wrong}"
        for route, response in answers.items():
            reason = response.json().get("error") or response.json().get("reason")
            assert reason, f"{route}: {response.text[:200]}"
            assert "database" in reason, f"{route}: {response.text[:200]}"
            if route != "GET /ready":
                assert response.headers.get("Retry-After") == "5", f"{route} has no Retry-After"
        # From memory: liveness, a known agent's heartbeat, the agent list, the service banner.
        assert client.get("/health").status_code == 200
        assert client.head("/heartbeat/known").status_code == 200
        assert client.head("/heartbeat/stranger").status_code == 503
        assert client.get("/").status_code == 200
        listed = client.get("/agents")
        assert listed.status_code in (200, 503), listed.text
        time.sleep(1.5)  # a monitor pass and a liveness flush fail meanwhile
        outage_log = registry.log()[log_before:]
        assert "Traceback" not in outage_log, outage_log[-3000:]
        assert '"level": "error"' not in outage_log, outage_log[-3000:]
        relay.start()
        wait_for(
            lambda: client.post("/heartbeat", json=heartbeat("newcomer")).status_code == 200,
            timeout=30,
            what="the registry to serve registrations again once the database is back",
        )
        assert client.get("/ready").status_code == 200
        assert "newcomer" in {a["id"] for a in client.get("/agents").json()["agents"]}
